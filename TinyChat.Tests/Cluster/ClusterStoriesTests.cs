using System.Text.Json;
using System.Text.Json.Nodes;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Cluster;

/// <summary>
/// Three TinyChat server processes on one PostgreSQL database: what users on different nodes see of each other.
/// The three nodes are shared by the fixture's tests (each test works in rooms of its own); a test that kills a
/// node starts a fourth one for that.
/// </summary>
[TestFixture]
[Category("Process")]
[Category("Postgres")]
public sealed class ClusterStoriesTests
{
    private static readonly string[] Users = ["alice", "bob", "carol", "dave", "erin"];
    private TempConfig config = null!;
    private string connectionString = null!;
    private ServerProcess a = null!;
    private ServerProcess b = null!;
    private ServerProcess c = null!;

    [OneTimeSetUp]
    public async Task StartNodes()
    {
        var postgres = await PostgresServer.SharedAsync();
        connectionString = await postgres.CreateDatabaseAsync();
        config = new TempConfig(c =>
        {
            c["Limits"] = JsonNode.Parse("""{"MessagesPerSecond":0,"FramesPerSecond":0,"ConnectionsPerMinutePerAddress":0}""");
            c["Chat"]!["SeedUsers"] = new JsonArray([.. Users.Select(u => JsonNode.Parse($$"""{"Username":"{{u}}","Token":"{{u}}_token"}"""))]);
        });

        // One after the other: the first one creates the schema.
        a = await StartNodeAsync("node-a");
        b = await StartNodeAsync("node-b");
        c = await StartNodeAsync("node-c");
    }

    [OneTimeTearDown]
    public async Task StopNodes()
    {
        foreach (var node in new[] { a, b, c })
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
        "--Storage:Provider", "postgres",
        "--Storage:ConnectionString", connectionString,
        "--Cluster:NodeName", name,
        "--Cluster:HeartbeatSeconds", "1",
        "--Cluster:NodeTimeoutSeconds", "3");

    private static async Task<ChatSocket> ConnectAsync(ServerProcess node, string user)
    {
        var socket = await ChatSocket.ConnectAsync(new Uri($"ws://{node.BaseUri.Authority}/chat?access_token={user}_token"));
        await socket.RequestAsync(Frame(("command", "ping")));
        return socket;
    }

    private static string NewRoom() => "r" + Guid.NewGuid().ToString("N")[..10];

    private static async Task JoinAsync(ChatSocket socket, string room)
    {
        var reply = await socket.RequestAsync(Frame(("command", "join"), ("room", room)));
        Assert.That(reply.TryGetProperty("error", out _), Is.False, reply.ToString());
    }

    private static async Task<List<(long Id, string Text)>> MessagesAsync(ChatSocket socket, string room, int count)
    {
        var got = new List<(long, string)>(count);
        while (got.Count < count)
        {
            var frame = await socket.ExpectAsync(f => f.TryGetProperty("id", out _) && f.TryGetProperty("room", out var r) && r.GetString() == room && f.TryGetProperty("from", out _));
            got.Add((frame.GetProperty("id").GetInt64(), frame.GetProperty("message").GetString()!));
        }

        return got;
    }

    [Test]
    public async Task Each_node_names_itself_in_whoami_and_healthz()
    {
        await using var alice = await ConnectAsync(b, "alice");
        Assert.That((await alice.RequestAsync(Frame(("command", "whoami")))).GetProperty("node").GetString(), Is.EqualTo("node-b"));
        using var http = new HttpClient { BaseAddress = c.BaseUri };
        var health = JsonDocument.Parse(await http.GetStringAsync("/healthz")).RootElement;
        Assert.That(health.GetProperty("node").GetString(), Is.EqualTo("node-c"));
        Assert.That(health.GetProperty("storage").GetProperty("provider").GetString(), Is.EqualTo("postgres"));
    }

    [Test]
    public async Task Clients_on_three_nodes_posting_interleaved_all_see_one_order()
    {
        var room = NewRoom();
        await using var alice = await ConnectAsync(a, "alice");
        await using var bob = await ConnectAsync(b, "bob");
        await using var carol = await ConnectAsync(c, "carol");
        await alice.RequestAsync(Frame(("command", "create"), ("room", room)));
        foreach (var socket in new[] { alice, bob, carol })
        {
            await JoinAsync(socket, room);
        }

        const int PerClient = 40;
        await Task.WhenAll(new[] { (alice, "a"), (bob, "b"), (carol, "c") }.Select(async p =>
        {
            for (var i = 0; i < PerClient; i++)
            {
                await p.Item1.SendAsync(new { room, message = $"{p.Item2}{i}" });
            }
        }));

        var seen = await Task.WhenAll(new[] { alice, bob, carol }.Select(s => MessagesAsync(s, room, 3 * PerClient)));
        Assert.That(seen[0].Select(m => m.Id), Is.EqualTo(Enumerable.Range(1, 3 * PerClient).Select(i => (long)i)), "ids 1..N, no gap, no duplicate");
        Assert.That(seen[1], Is.EqualTo(seen[0]), "bob on b sees alice's order");
        Assert.That(seen[2], Is.EqualTo(seen[0]), "carol on c too");
        foreach (var who in new[] { "a", "b", "c" })
        {
            Assert.That(seen[0].Select(m => m.Text).Where(t => t.StartsWith(who, StringComparison.Ordinal)), Is.EqualTo(Enumerable.Range(0, PerClient).Select(i => $"{who}{i}")), "each sender's own order kept");
        }
    }

    [Test]
    public async Task A_private_message_reaches_each_tab_of_the_recipient_on_two_nodes_once()
    {
        await using var alice = await ConnectAsync(a, "alice");
        await using var bobOnB = await ConnectAsync(b, "bob");
        await using var bobOnC = await ConnectAsync(c, "bob");

        var sent = await alice.RequestAsync(Frame(("to", "bob"), ("message", "psst")));
        var id = sent.GetProperty("id").GetInt64();
        await alice.RequestAsync(Frame(("to", "bob"), ("message", "marker")));

        foreach (var tab in new[] { bobOnB, bobOnC })
        {
            var first = await tab.ExpectAsync(f => f.TryGetProperty("to", out _) && f.TryGetProperty("message", out _));
            var second = await tab.ExpectAsync(f => f.TryGetProperty("to", out _) && f.TryGetProperty("message", out _));
            Assert.That((first.GetProperty("id").GetInt64(), first.GetProperty("message").GetString()), Is.EqualTo((id, "psst")));
            Assert.That(second.GetProperty("message").GetString(), Is.EqualTo("marker"), "psst came once");
        }
    }

    [Test]
    public async Task Presence_and_typing_cross_nodes_and_a_second_tab_elsewhere_does_not_flap()
    {
        var room = NewRoom();
        await using var carol = await ConnectAsync(a, "carol");
        await carol.RequestAsync(Frame(("command", "create"), ("room", room)));
        await JoinAsync(carol, room);
        await using var erin = await ConnectAsync(a, "erin");
        await JoinAsync(erin, room);
        var dave = await ConnectAsync(b, "dave");
        await JoinAsync(dave, room);
        await carol.ExpectAsync(f => IsDiff(f, room, joins: "dave"));

        // dave opens a second tab on c, then closes the one on b: still online, no diff.
        var daveOnC = await ConnectAsync(c, "dave");
        await Until(async () => Online(await carol.RequestAsync(Frame(("command", "who"), ("room", room))), "dave") == 2);
        await dave.DisposeAsync();
        await Until(async () => Online(await carol.RequestAsync(Frame(("command", "who"), ("room", room))), "dave") == 1);

        // The tab closes only once its typing notice has crossed: a notice still in the server when its connection
        // closes belongs to a member who is no longer online there, and is dropped (as on one node).
        await daveOnC.SendAsync(new { command = "typing", room });
        var seen = new List<JsonElement>();
        while (!seen.Any(f => f.TryGetProperty("typing", out var t) && t.GetString() == "dave"))
        {
            seen.Add(await erin.ExpectAsync(f => f.TryGetProperty("typing", out _) || IsDiff(f, room)));
        }

        await daveOnC.DisposeAsync();

        // erin on a saw everything from the start: dave typing (on c, after his b tab closed), then one leave.
        while (!seen.Any(f => IsDiff(f, room, leaves: "dave")))
        {
            seen.Add(await erin.ExpectAsync(f => f.TryGetProperty("typing", out _) || IsDiff(f, room)));
        }

        var typing = seen.FindIndex(f => f.TryGetProperty("typing", out var t) && t.GetString() == "dave");
        var leave = seen.FindIndex(f => IsDiff(f, room, leaves: "dave"));
        Assert.That(typing, Is.GreaterThanOrEqualTo(0), "typing crossed from c to a");
        Assert.That(leave, Is.GreaterThan(typing), "no leave while dave still had a tab on c");
        Assert.That(seen.Count(f => IsDiff(f, room, joins: "dave")), Is.EqualTo(1), "one join, the second tab changed nothing");
    }

    [Test]
    public async Task Rooms_are_cluster_wide_and_two_nodes_creating_one_name_at_once_give_one_success()
    {
        var room = NewRoom();
        await using var alice = await ConnectAsync(a, "alice");
        await using var bob = await ConnectAsync(b, "bob");

        var replies = await Task.WhenAll(
            alice.RequestAsync(Frame(("command", "create"), ("room", room))),
            bob.RequestAsync(Frame(("command", "create"), ("room", room))));
        Assert.That(replies.Count(r => r.TryGetProperty("success", out _)), Is.EqualTo(1), string.Join(" ", replies));
        Assert.That(replies.Count(r => r.TryGetProperty("error", out _)), Is.EqualTo(1));

        await using var carol = await ConnectAsync(c, "carol");
        var rooms = await carol.RequestAsync(Frame(("command", "rooms")));
        Assert.That(rooms.GetProperty("rooms").EnumerateArray().Select(r => r.GetString()), Does.Contain(room));

        // Joined on a, posting from b at once (the room's process on b is running already).
        await JoinAsync(bob, room);
        await using var aliceOnB = await ConnectAsync(b, "alice");
        await JoinAsync(alice, room);
        var posted = await aliceOnB.RequestAsync(Frame(("room", room), ("message", "from b right after joining on a")));
        Assert.That(posted.GetProperty("ok").GetBoolean(), Is.True, posted.ToString());
        Assert.That((await MessagesAsync(bob, room, 1))[0].Text, Is.EqualTo("from b right after joining on a"));
    }

    [Test]
    public async Task A_node_killed_with_sigkill_is_dropped_within_the_timeout_and_its_client_catches_up_on_another_node_once()
    {
        var room = NewRoom();
        await using var watcher = await ConnectAsync(a, "erin");
        await watcher.RequestAsync(Frame(("command", "create"), ("room", room)));
        await JoinAsync(watcher, room);
        await using var doomed = await StartNodeAsync("node-d");
        var victim = await ConnectAsync(doomed, "alice");
        await JoinAsync(victim, room);
        await watcher.ExpectAsync(f => IsDiff(f, room, joins: "alice"));
        for (var i = 0; i < 5; i++)
        {
            await watcher.RequestAsync(Frame(("room", room), ("message", $"before {i}")));
        }

        var lastSeen = (await MessagesAsync(victim, room, 5))[^1].Id;
        await doomed.SignalAsync("KILL");
        var killedAt = DateTime.UtcNow;
        for (var i = 0; i < 5; i++)
        {
            await watcher.RequestAsync(Frame(("room", room), ("message", $"after {i}")));
        }

        await watcher.ExpectAsync(f => IsDiff(f, room, leaves: "alice"), TimeSpan.FromSeconds(15));
        Assert.That(DateTime.UtcNow - killedAt, Is.LessThan(TimeSpan.FromSeconds(3 + 6)), "noticed within the node timeout (plus a heartbeat and slack)");

        // The client reconnects to node b and asks for what follows the last id it saw: each message once.
        await using var back = await ConnectAsync(b, "alice");
        var history = await back.RequestAsync(Frame(("command", "history"), ("room", room), ("after", lastSeen)));
        Assert.That(history.GetProperty("history").EnumerateArray().Select(m => m.GetProperty("message").GetString()), Is.EqualTo(Enumerable.Range(0, 5).Select(i => $"after {i}")));
        await watcher.RequestAsync(Frame(("room", room), ("message", "live again")));
        var live = await MessagesAsync(back, room, 1);
        Assert.That(live[0], Is.EqualTo((lastSeen + 6, "live again")));
    }

    private static bool IsDiff(JsonElement frame, string room, string? joins = null, string? leaves = null) =>
        frame.TryGetProperty("presence_diff", out var diff)
        && frame.GetProperty("room").GetString() == room
        && (joins is null || diff.GetProperty("joins").TryGetProperty(joins, out _))
        && (leaves is null || diff.GetProperty("leaves").TryGetProperty(leaves, out _));

    private static int Online(JsonElement who, string user) =>
        who.GetProperty("presence_state").TryGetProperty(user, out var entry) ? entry.GetProperty("connections").GetInt32() : 0;

    private static async Task Until(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!await condition())
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "condition not met in time");
            await Task.Delay(50);
        }
    }
}
