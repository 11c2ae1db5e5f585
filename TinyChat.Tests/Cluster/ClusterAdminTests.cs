using System.Net.WebSockets;
using System.Text.Json.Nodes;
using TinyChat.Tests.Admin;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Cluster;

/// <summary>
/// The admin command line on a PostgreSQL store with two server processes on it: every node applies a token reset,
/// a user deletion and a room deletion to the connections it holds.
/// </summary>
[TestFixture]
[Category("Process")]
[Category("Postgres")]
public sealed class ClusterAdminTests
{
    private TempConfig config = null!;
    private ServerProcess a = null!;
    private ServerProcess b = null!;

    [OneTimeSetUp]
    public async Task StartNodes()
    {
        var connectionString = await (await PostgresServer.SharedAsync()).CreateDatabaseAsync();
        config = new TempConfig(c =>
        {
            c["Storage"]!["Provider"] = "postgres";
            c["Storage"]!["ConnectionString"] = connectionString;
            c["Limits"] = JsonNode.Parse("""{"MessagesPerSecond":0,"FramesPerSecond":0,"ConnectionsPerMinutePerAddress":0}""");
        });

        // One after the other: the first one creates the schema.
        a = await StartNodeAsync("node-a");
        b = await StartNodeAsync("node-b");
    }

    [OneTimeTearDown]
    public async Task StopNodes()
    {
        foreach (var node in new[] { a, b })
        {
            if (node is not null)
            {
                await node.DisposeAsync();
            }
        }

        config.Dispose();
    }

    private Task<ServerProcess> StartNodeAsync(string name) => ServerProcess.StartAsync(
        config.Path,
        ServerProcess.FreePort(),
        "--Cluster:NodeName", name,
        "--Cluster:HeartbeatSeconds", "1",
        "--Cluster:NodeTimeoutSeconds", "3");

    private Task<AdminRun> Run(params string[] args) => AdminRun.RunAsync([.. args, "--config", config.Path]);

    private static async Task<ChatSocket> ConnectAsync(ServerProcess node, string token)
    {
        var socket = await ChatSocket.ConnectAsync(new Uri($"ws://{node.BaseUri.Authority}/chat?access_token={Uri.EscapeDataString(token)}"));
        await socket.RequestAsync(Frame(("command", "ping")));
        return socket;
    }

    private static string NewName(string prefix) => prefix + Guid.NewGuid().ToString("N")[..8];

    private async Task<string> AddUserAsync(string name)
    {
        var added = await Run("users", "add", name);
        Assert.That(added.ExitCode, Is.Zero, added.ToString());
        return added.Lines.Single();
    }

    [Test]
    public async Task Reset_token_closes_the_users_connections_on_every_node_and_the_new_token_works_on_every_node()
    {
        var user = NewName("u");
        var old = await AddUserAsync(user);
        await using var onA = await ConnectAsync(a, old);
        await using var onB = await ConnectAsync(b, old);
        await using var bystander = await ConnectAsync(b, "bar_token");

        var reset = await Run("users", "reset-token", user);
        Assert.That(reset.ExitCode, Is.Zero, reset.ToString());

        foreach (var socket in new[] { onA, onB })
        {
            await socket.WaitClosedAsync();
            Assert.That(socket.CloseStatus, Is.EqualTo(WebSocketCloseStatus.PolicyViolation));
            Assert.That(socket.CloseDescription, Is.EqualTo("access token reset by an administrator"));
        }

        Assert.That((await bystander.RequestAsync(Frame(("command", "ping")))).GetProperty("pong").GetBoolean(), Is.True, "others stay connected");
        foreach (var node in new[] { a, b })
        {
            await using var again = await ConnectAsync(node, reset.Lines.Single());
            Assert.That((await again.RequestAsync(Frame(("command", "whoami")))).GetProperty("username").GetString(), Is.EqualTo(user));
        }

        await a.WaitForOutputAsync($"Applying administrator change TokenReset to {user}", ChatSocket.DefaultTimeout);
        await b.WaitForOutputAsync($"Applying administrator change TokenReset to {user}", ChatSocket.DefaultTimeout);
    }

    [Test]
    public async Task Deleting_a_user_closes_its_connections_on_every_node_and_members_on_both_see_it_leave()
    {
        var user = NewName("u");
        var room = NewName("r");
        var token = await AddUserAsync(user);
        await using var onA = await ConnectAsync(a, token);
        await using var onB = await ConnectAsync(b, token);
        await using var foo = await ConnectAsync(a, "foo_token");
        await using var bar = await ConnectAsync(b, "bar_token");
        await foo.RequestAsync(Frame(("command", "create"), ("room", room)));
        foreach (var socket in new[] { onA, foo, bar })
        {
            var joined = await socket.RequestAsync(Frame(("command", "join"), ("room", room)));
            Assert.That(joined.TryGetProperty("error", out _), Is.False, joined.ToString());
        }

        var deleted = await Run("users", "delete", user);
        Assert.That(deleted.ExitCode, Is.Zero, deleted.ToString());

        foreach (var socket in new[] { onA, onB })
        {
            await socket.WaitClosedAsync();
            Assert.That(socket.CloseDescription, Is.EqualTo("account deleted by an administrator"));
        }

        foreach (var member in new[] { foo, bar })
        {
            await member.ExpectAsync(f => f.TryGetProperty("presence_diff", out var diff) && f.GetProperty("room").GetString() == room && diff.GetProperty("leaves").TryGetProperty(user, out _));
        }

        var rooms = await Run("rooms", "list");
        Assert.That(rooms.Lines.Single(l => l.StartsWith(room + " ", StringComparison.Ordinal)), Does.Match($@"^{room}\s+2\s+0\s+-$"), "foo and bar are left");
    }

    [Test]
    public async Task Deleting_a_room_tells_its_members_on_every_node_that_everyone_left_and_the_room_is_gone_everywhere()
    {
        var room = NewName("r");
        await using var foo = await ConnectAsync(a, "foo_token");
        await using var bar = await ConnectAsync(b, "bar_token");
        await foo.RequestAsync(Frame(("command", "create"), ("room", room)));
        await foo.RequestAsync(Frame(("command", "join"), ("room", room)));
        await bar.RequestAsync(Frame(("command", "join"), ("room", room)));
        var posted = await foo.RequestAsync(Frame(("room", room), ("message", "soon gone")));
        Assert.That(posted.TryGetProperty("id", out _), Is.True, posted.ToString());

        var deleted = await Run("rooms", "delete", room);
        Assert.That(deleted.ExitCode, Is.Zero, deleted.ToString());

        foreach (var member in new[] { foo, bar })
        {
            await member.ExpectAsync(f => f.TryGetProperty("presence_diff", out var d) && f.GetProperty("room").GetString() == room && d.GetProperty("leaves").TryGetProperty("foo_user", out _) && d.GetProperty("leaves").TryGetProperty("bar_user", out _));
            var rooms = await member.RequestAsync(Frame(("command", "rooms")));
            Assert.That(rooms.GetProperty("joined").EnumerateArray().Select(r => r.GetString()), Does.Not.Contain(room));
            Assert.That(rooms.GetProperty("rooms").EnumerateArray().Select(r => r.GetString()), Does.Not.Contain(room));
            var post = await member.RequestAsync(Frame(("room", room), ("message", "hello?")));
            Assert.That(post.GetProperty("code").GetString(), Is.EqualTo("room_not_found"));
        }
    }
}
