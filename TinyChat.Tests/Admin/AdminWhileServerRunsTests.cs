using System.Net;
using System.Net.WebSockets;
using TinyChat.Storage.Sqlite;
using TinyChat.Tests.HttpApi;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Admin;

/// <summary>Admin commands on the data file of a server that is running: the server feels each change at once.</summary>
public sealed class AdminWhileServerRunsTests
{
    private TestServer server = null!;

    [SetUp]
    public async Task StartServer() => server = await TestServer.StartAsync();

    [TearDown]
    public async Task StopServer() => await server.DisposeAsync();

    private Task<AdminRun> Run(params string[] args) =>
        AdminRun.RunAsync([.. args, "--config", Path.Combine(server.Directory, "chat.config.json"), "--data", Path.Combine(server.Directory, "data")]);

    [Test]
    public async Task A_user_added_from_the_command_line_can_connect_at_once()
    {
        var added = await Run("users", "add", "carol");
        Assert.That(added.ExitCode, Is.Zero, added.ToString());

        await using var carol = await server.ConnectAsync(added.Lines[0]);
        var me = await carol.RequestAsync(Frame(("command", "whoami")));
        Assert.That(me.GetProperty("username").GetString(), Is.EqualTo("carol"));
    }

    [Test]
    public async Task Reset_token_closes_the_open_connections_with_a_reason_and_only_the_new_token_works()
    {
        var old = (await Run("users", "add", "carol")).Lines[0];
        await using var first = await server.ConnectAsync(old);
        await using var second = await server.ConnectAsync(old);
        await using var bar = await server.ConnectAsync("bar_token");

        var reset = await Run("users", "reset-token", "carol");
        Assert.That(reset.ExitCode, Is.Zero, reset.ToString());

        foreach (var socket in new[] { first, second })
        {
            await socket.WaitClosedAsync();
            Assert.That(socket.CloseStatus, Is.EqualTo(WebSocketCloseStatus.PolicyViolation));
            Assert.That(socket.CloseDescription, Is.EqualTo("access token reset by an administrator"));
        }

        Assert.That((await bar.RequestAsync(Frame(("command", "ping")))).GetProperty("pong").GetBoolean(), Is.True, "others stay connected");
        using (var refused = await server.Http.GetAsync($"/api/me?access_token={Uri.EscapeDataString(old)}"))
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        await using var again = await server.ConnectAsync(reset.Lines[0]);
        Assert.That((await again.RequestAsync(Frame(("command", "whoami")))).GetProperty("username").GetString(), Is.EqualTo("carol"));
    }

    [Test]
    public async Task Reset_token_ends_an_event_stream_too()
    {
        var token = (await Run("users", "add", "carol")).Lines[0];
        await using var stream = await SseClient.OpenAsync(server.BaseUri, "/api/events", token);

        var reset = await Run("users", "reset-token", "carol");
        Assert.That(reset.ExitCode, Is.Zero, reset.ToString());

        await stream.Ended.WaitAsync(TimeSpan.FromSeconds(10));
    }

    [Test]
    public async Task Deleting_a_user_closes_its_connections_and_its_rooms_forget_it()
    {
        var token = (await Run("users", "add", "carol")).Lines[0];
        await using var carol = await server.ConnectAsync(token);
        await using var foo = await server.ConnectAsync("foo_token");
        await carol.RequestAsync(Frame(("command", "join")));
        await foo.RequestAsync(Frame(("command", "join")));

        var deleted = await Run("users", "delete", "carol");
        Assert.That(deleted.ExitCode, Is.Zero, deleted.ToString());

        await carol.WaitClosedAsync();
        Assert.That(carol.CloseDescription, Is.EqualTo("account deleted by an administrator"));
        await foo.ExpectAsync(f => f.TryGetProperty("presence_diff", out var diff) && diff.GetProperty("leaves").TryGetProperty("carol", out _));

        // A new account under the freed name is not a member of the old account's rooms.
        var newToken = await server.RegisterAsync("carol");
        await using var newcomer = await server.ConnectAsync(newToken);
        var refused = await newcomer.RequestAsync(Frame(("room", "default"), ("message", "am I in?")));
        Assert.That(refused.GetProperty("code").GetString(), Is.EqualTo("not_a_member"));
    }

    [Test]
    public async Task Deleting_a_room_tells_its_online_members_everyone_left_and_the_room_is_gone_for_them()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await foo.RequestAsync(Frame(("command", "create"), ("room", "lobby")));
        await foo.RequestAsync(Frame(("command", "join"), ("room", "lobby")));
        await bar.RequestAsync(Frame(("command", "join"), ("room", "lobby")));
        await foo.RequestAsync(Frame(("room", "lobby"), ("message", "soon gone")));

        var deleted = await Run("rooms", "delete", "lobby");
        Assert.That(deleted.ExitCode, Is.Zero, deleted.ToString());

        foreach (var member in new[] { foo, bar })
        {
            var diff = await member.ExpectAsync(f => f.TryGetProperty("presence_diff", out var d) && d.GetProperty("leaves").TryGetProperty("foo_user", out _) && d.GetProperty("leaves").TryGetProperty("bar_user", out _));
            Assert.That(diff.GetProperty("room").GetString(), Is.EqualTo("lobby"));
        }

        var rooms = await foo.RequestAsync(Frame(("command", "rooms")));
        Assert.That(rooms.GetProperty("joined").EnumerateArray().Select(r => r.GetString()), Does.Not.Contain("lobby"));
        Assert.That(rooms.GetProperty("rooms").EnumerateArray().Select(r => r.GetString()), Does.Not.Contain("lobby"));
        var post = await foo.RequestAsync(Frame(("room", "lobby"), ("message", "hello?")));
        Assert.That(post.GetProperty("code").GetString(), Is.EqualTo("room_not_found"));

        // The name is free again, with a fresh history.
        await foo.RequestAsync(Frame(("command", "create"), ("room", "lobby")));
        await foo.RequestAsync(Frame(("command", "join"), ("room", "lobby")));
        var history = await foo.RequestAsync(Frame(("command", "history"), ("room", "lobby"), ("limit", 10)));
        Assert.That(history.GetProperty("history").GetArrayLength(), Is.Zero);
        var first = await foo.RequestAsync(Frame(("room", "lobby"), ("message", "fresh start")));
        Assert.That(first.GetProperty("id").GetInt64(), Is.EqualTo(1));
    }

    [Test]
    public async Task A_backup_taken_while_the_server_runs_has_the_same_counts()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await foo.RequestAsync(Frame(("command", "join")));
        for (var i = 0; i < 20; i++)
        {
            await foo.RequestAsync(Frame(("room", "default"), ("message", $"m{i}")));
        }

        var target = Path.Combine(server.Directory, "backup.db");
        var backup = await Run("backup", target);

        Assert.That(backup.ExitCode, Is.Zero, backup.ToString());
        var source = Path.Combine(server.Directory, "data", SqliteStoreSettings.FileName);
        var counts = await SqliteAdminStore.CountAsync(target, CancellationToken.None);
        Assert.That(counts, Is.EqualTo(await SqliteAdminStore.CountAsync(source, CancellationToken.None)));
        Assert.That(counts["room_messages"], Is.EqualTo(20));
        Assert.That((await Run("check")).ExitCode, Is.Zero);
    }
}
