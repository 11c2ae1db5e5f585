using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using TinyChat.Storage.Sqlite;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Durability;

/// <summary>
/// The server as a separate OS process on one data folder: stopped with SIGTERM or killed with SIGKILL, then
/// started again. Nothing acknowledged may be lost, and sequence numbers must carry on.
/// </summary>
[TestFixture]
[Category("Process")]
public sealed class RestartAndCrashTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(20);

    // The data lives in the configuration's folder (Storage:DataDirectory defaults to "data" beside the file).
    private TempConfig config = null!;

    // Rate limits off: the crash test floods on purpose, to be killed in full flow.
    [SetUp]
    public void WriteConfig() => config = new TempConfig(c => c["Limits"] = JsonNode.Parse("""{"MessagesPerSecond":0,"FramesPerSecond":0}"""));

    [TearDown]
    public void RemoveFolder()
    {
        SqliteConnection.ClearAllPools();
        config.Dispose();
    }

    private Task<ServerProcess> StartAsync() => ServerProcess.StartAsync(config.Path, ServerProcess.FreePort());

    private static async Task<ChatSocket> ConnectAsync(ServerProcess server, string token)
    {
        var socket = await ChatSocket.ConnectAsync(new Uri($"ws://{server.BaseUri.Authority}/chat?access_token={Uri.EscapeDataString(token)}"));
        await socket.RequestAsync(Frame(("command", "ping")));
        return socket;
    }

    private static async Task<int> TerminateAsync(ServerProcess server)
    {
        await server.SignalAsync("TERM");
        return await server.WaitForExitAsync(ExitTimeout);
    }

    private static async Task<string> RegisterAsync(ServerProcess server, string username)
    {
        using var http = new HttpClient { BaseAddress = server.BaseUri, Timeout = TimeSpan.FromSeconds(10) };
        using var response = await http.PostAsJsonAsync("/api/users", new { username });
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("access_token").GetString()!;
    }

    private static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.GetString()!)];

    [Test]
    public async Task After_a_graceful_restart_accounts_rooms_memberships_and_history_are_all_there()
    {
        string aliceToken;
        await using (var first = await StartAsync())
        {
            aliceToken = await RegisterAsync(first, "alice");
            await using (var foo = await ConnectAsync(first, "foo_token"))
            await using (var alice = await ConnectAsync(first, aliceToken))
            {
                await foo.RequestAsync(Frame(("command", "create"), ("room", "lobby")));
                await foo.RequestAsync(Frame(("command", "join"), ("room", "lobby")));
                await alice.RequestAsync(Frame(("command", "join"), ("room", "lobby")));
                await alice.RequestAsync(Frame(("command", "join")));
                await alice.RequestAsync(Frame(("command", "leave"), ("room", "default")));
                for (var i = 1; i <= 3; i++)
                {
                    await foo.RequestAsync(Frame(("room", "lobby"), ("message", $"foo {i}")));
                }

                await alice.RequestAsync(Frame(("room", "lobby"), ("message", "alice 4")));
                await foo.RequestAsync(Frame(("to", "alice"), ("message", "psst")));
            }

            // Clients gone first, so the stop does not wait out the close handshake of open sockets.
            Assert.That(await TerminateAsync(first), Is.EqualTo(0), first.Output);
        }

        await using var second = await StartAsync();
        await using var aliceAgain = await ConnectAsync(second, aliceToken);
        Assert.That((await aliceAgain.RequestAsync(Frame(("command", "whoami")))).GetProperty("username").GetString(), Is.EqualTo("alice"));

        var rooms = await aliceAgain.RequestAsync(Frame(("command", "rooms")));
        Assert.That(Strings(rooms.GetProperty("rooms")), Is.SupersetOf(new[] { "default", "lobby" }));
        Assert.That(Strings(rooms.GetProperty("joined")), Is.EqualTo(new[] { "lobby" }));

        var history = await aliceAgain.RequestAsync(Frame(("command", "history"), ("room", "lobby")));
        var messages = history.GetProperty("history").EnumerateArray().ToList();
        Assert.That(messages.Select(m => m.GetProperty("id").GetInt64()), Is.EqualTo(new long[] { 1, 2, 3, 4 }));
        Assert.That(messages.Select(m => m.GetProperty("message").GetString()), Is.EqualTo(new[] { "foo 1", "foo 2", "foo 3", "alice 4" }));
        Assert.That(messages.Select(m => m.GetProperty("from").GetString()), Is.EqualTo(new[] { "foo_user", "foo_user", "foo_user", "alice" }));

        var conversation = await aliceAgain.RequestAsync(Frame(("command", "history"), ("with", "foo_user")));
        Assert.That(conversation.GetProperty("history").EnumerateArray().Select(m => m.GetProperty("message").GetString()), Is.EqualTo(new[] { "psst" }));

        // Membership is live without joining again: a post is accepted and numbered after the stored ones.
        var ack = await aliceAgain.RequestAsync(Frame(("room", "lobby"), ("message", "after restart")));
        Assert.That(ack.GetProperty("id").GetInt64(), Is.EqualTo(5), ack.ToString());

        await using var foo2 = await ConnectAsync(second, "foo_token");
        Assert.That(Strings((await foo2.RequestAsync(Frame(("command", "rooms")))).GetProperty("joined")), Is.EqualTo(new[] { "lobby" }));
    }

    [Test]
    public async Task After_kill_9_every_join_a_client_was_welcomed_to_is_still_a_membership()
    {
        const int joiners = 8; // under Limits:RegistrationsPerMinutePerAddress (10)
        var tokens = new List<string>();
        await using (var first = await StartAsync())
        {
            for (var i = 0; i < joiners; i++)
            {
                tokens.Add(await RegisterAsync(first, $"joiner{i}"));
            }

            await using (var foo = await ConnectAsync(first, "foo_token"))
            {
                await foo.RequestAsync(Frame(("command", "create"), ("room", "lobby")));
            }

            // Joins in flight together (so they share group commits), each answered with its welcome; the kill
            // follows the last welcome at once.
            var sockets = new List<ChatSocket>();
            foreach (var token in tokens)
            {
                sockets.Add(await ConnectAsync(first, token));
            }

            var welcomes = await Task.WhenAll(sockets.Select(socket => socket.RequestAsync(Frame(("command", "join"), ("room", "lobby")))));
            Assert.That(welcomes.Select(w => w.GetProperty("room").GetString()), Is.All.EqualTo("lobby"), string.Join("\n", welcomes));
            await first.SignalAsync("KILL");
            await first.WaitForExitAsync(ExitTimeout);
            foreach (var socket in sockets)
            {
                await socket.DisposeAsync();
            }
        }

        await using var second = await StartAsync();
        for (var i = 0; i < joiners; i++)
        {
            await using var again = await ConnectAsync(second, tokens[i]);
            var rooms = await again.RequestAsync(Frame(("command", "rooms")));
            Assert.That(Strings(rooms.GetProperty("joined")), Does.Contain("lobby"), $"joiner{i} was welcomed before the kill");
        }
    }

    [Test]
    public async Task After_kill_9_every_message_any_client_received_is_in_history_and_ids_carry_on()
    {
        const int roomMessagesBeforeCrash = 200;
        const int privateMessagesBeforeCrash = 20;
        const int maxPerSender = 5000;
        var received = new List<JsonElement>();

        await using (var first = await StartAsync())
        {
            await using var foo = await ConnectAsync(first, "foo_token");
            await using var fooTab = await ConnectAsync(first, "foo_token");
            await using var bar = await ConnectAsync(first, "bar_token");
            await using var watcher = await ConnectAsync(first, "bar_token");
            await foo.RequestAsync(Frame(("command", "join")));
            await bar.RequestAsync(Frame(("command", "join")));

            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            // One sender per socket, each waiting for its acknowledgement before the next message, so room and
            // private messages flow at comparable rates (unpaced room posts would swamp the private ones).
            var senders = new[]
            {
                SendUntilCrashAsync(foo, i => Frame(("room", "default"), ("message", $"foo {i}")), maxPerSender, stop.Token),
                SendUntilCrashAsync(bar, i => Frame(("room", "default"), ("message", $"bar {i}")), maxPerSender, stop.Token),
                SendUntilCrashAsync(fooTab, i => Frame(("to", "bar_user"), ("message", $"pm {i}")), maxPerSender, stop.Token),
            };

            // Crash in full flow: once a second tab of bar has seen enough of both kinds of message, kill -9.
            var seenRoom = 0;
            var seenPrivate = 0;
            while (seenRoom < roomMessagesBeforeCrash || seenPrivate < privateMessagesBeforeCrash)
            {
                var frame = await watcher.ReceiveAsync();
                received.Add(frame);
                if (frame.TryGetProperty("from", out _))
                {
                    _ = frame.TryGetProperty("to", out _) ? seenPrivate++ : seenRoom++;
                }
            }

            await first.SignalAsync("KILL");
            await first.WaitForExitAsync(ExitTimeout);
            await Task.WhenAll(senders).WaitAsync(TimeSpan.FromSeconds(30));
            foreach (var socket in new[] { foo, fooTab, bar, watcher })
            {
                received.AddRange(await DrainAsync(socket));
            }
        }

        var receivedRoom = received.Where(f => f.TryGetProperty("room", out _) && f.TryGetProperty("from", out _)).ToList();
        var receivedPrivate = received.Where(f => f.TryGetProperty("to", out _) && f.TryGetProperty("from", out _)).ToList();
        Assert.That(receivedRoom, Is.Not.Empty);
        Assert.That(receivedPrivate, Is.Not.Empty);

        await using var second = await StartAsync();
        await using var reader = await ConnectAsync(second, "foo_token");
        var roomHistory = await ReadAllAsync(reader, ("room", "default"));
        var privateHistory = await ReadAllAsync(reader, ("with", "bar_user"));

        var roomIds = roomHistory.Select(m => m.GetProperty("id").GetInt64()).ToList();
        TestContext.Out.WriteLine($"received {receivedRoom.Count} room and {receivedPrivate.Count} private frames; stored {roomIds.Count} room and {privateHistory.Count} private messages");
        Assert.That(roomIds, Is.EqualTo(Enumerable.Range(1, roomIds.Count).Select(i => (long)i)), "room ids are 1..N without repeats or gaps");
        var storedRoom = roomHistory.Select(m => m.GetRawText()).ToHashSet();
        var lostRoom = receivedRoom.Where(m => !storedRoom.Contains(m.GetRawText())).Select(m => m.GetRawText()).ToList();
        Assert.That(lostRoom, Is.Empty, "room messages received before the crash but missing from history");

        Assert.That(privateHistory.Select(m => m.GetProperty("id").GetInt64()), Is.Unique.And.Ordered.Ascending);
        var storedPrivate = privateHistory.Select(m => m.GetRawText()).ToHashSet();
        var lostPrivate = receivedPrivate.Where(m => !storedPrivate.Contains(m.GetRawText())).Select(m => m.GetRawText()).ToList();
        Assert.That(lostPrivate, Is.Empty, "private messages received before the crash but missing from history");

        var roomAck = await reader.RequestAsync(Frame(("room", "default"), ("message", "after the crash")));
        Assert.That(roomAck.GetProperty("id").GetInt64(), Is.EqualTo(roomIds.Count + 1));
        Assert.That(roomAck.GetProperty("id").GetInt64(), Is.GreaterThan(receivedRoom.Max(m => m.GetProperty("id").GetInt64())));
        var privateAck = await reader.RequestAsync(Frame(("to", "bar_user"), ("message", "after the crash")));
        Assert.That(privateAck.GetProperty("id").GetInt64(), Is.GreaterThan(receivedPrivate.Max(m => m.GetProperty("id").GetInt64())));
    }

    [Test]
    public async Task A_corrupt_data_file_stops_the_server_with_exit_code_2_and_one_line_naming_the_file()
    {
        var file = Path.Combine(config.Directory, "data", SqliteStoreSettings.FileName);
        Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        var garbage = new byte[4096];
        new Random(3).NextBytes(garbage);
        await File.WriteAllBytesAsync(file, garbage);

        await using var server = ServerProcess.Launch(0, "--config", config.Path, "--static", Path.Combine(AppContext.BaseDirectory, "static"));
        var exitCode = await server.WaitForExitAsync(ExitTimeout);
        var output = server.Output;
        Assert.That(exitCode, Is.EqualTo(2), output);
        var line = output.Split('\n').Single(l => l.StartsWith("tinychat: cannot start:", StringComparison.Ordinal));
        Assert.That(line, Does.Contain(file).And.Contain("not a SQLite database"));
        Assert.That(await File.ReadAllBytesAsync(file), Is.EqualTo(garbage));
    }

    private static async Task SendUntilCrashAsync(ChatSocket socket, Func<int, Dictionary<string, object?>> frame, int max, CancellationToken cancellationToken)
    {
        for (var i = 1; i <= max && !cancellationToken.IsCancellationRequested; i++)
        {
            try
            {
                await socket.RequestAsync(frame(i));
            }
            catch (Exception ex) when (ex is System.Net.WebSockets.WebSocketException or IOException or OperationCanceledException
                or ObjectDisposedException or InvalidOperationException or TimeoutException)
            {
                // The server died under the request.
                return;
            }
        }
    }

    // Every frame the socket had received when its connection died.
    private static async Task<List<JsonElement>> DrainAsync(ChatSocket socket)
    {
        await socket.WaitClosedAsync(TimeSpan.FromSeconds(10));
        var frames = new List<JsonElement>();
        for (var i = 0; i < 1_000_000; i++)
        {
            try
            {
                frames.Add(await socket.ReceiveAsync(TimeSpan.FromSeconds(5)));
            }
            catch (InvalidOperationException)
            {
                break;
            }
        }

        return frames;
    }

    private static async Task<List<JsonElement>> ReadAllAsync(ChatSocket socket, (string Key, string Value) target)
    {
        var all = new List<JsonElement>();
        long after = 0;
        for (var page = 0; page < 1000; page++)
        {
            var reply = await socket.RequestAsync(Frame(("command", "history"), target, ("after", after), ("limit", 200)));
            var messages = reply.GetProperty("history").EnumerateArray().ToList();
            if (messages.Count == 0)
            {
                return all;
            }

            all.AddRange(messages);
            after = messages[^1].GetProperty("id").GetInt64();
        }

        throw new InvalidOperationException("history did not end within 1000 pages");
    }
}
