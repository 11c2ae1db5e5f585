using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using TinyChat.Runtime;
using TinyChat.Storage.Sqlite;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Durability;

/// <summary>
/// <c>kill -9</c> at the worst moments: inside a schema migration on start, inside a retention prune, while a
/// room's loop starts again. The server stops exactly there (<see cref="CrashPoints"/>: it prints that it reached
/// the point and holds it) and the test kills it. The file must open, hold every acknowledged message the
/// retention policy keeps, and ids must carry on.
/// </summary>
[TestFixture]
[Category("Process")]
public sealed class CrashConsistencyTests
{
    private static readonly TimeSpan PointTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(20);
    private TempConfig config = null!;

    private string DatabasePath => Path.Combine(config.Directory, "data", SqliteStoreSettings.FileName);

    [TearDown]
    public void RemoveFolder()
    {
        SqliteConnection.ClearAllPools();
        config?.Dispose();
    }

    private void WriteConfig(string? runtime = null, string? storage = null) => config = new TempConfig(c =>
    {
        c["Limits"] = JsonNode.Parse("""{"MessagesPerSecond":0,"FramesPerSecond":0}""");
        if (runtime is not null)
        {
            c["Runtime"] = JsonNode.Parse(runtime);
        }

        if (storage is not null)
        {
            foreach (var (key, value) in JsonNode.Parse(storage)!.AsObject())
            {
                c["Storage"]![key] = value?.DeepClone();
            }
        }
    });

    // Launched with a crash point armed; returns once the server holds it, killed by the caller.
    private async Task<ServerProcess> HoldAtAsync(string point, int port)
    {
        var server = ServerProcess.Launch(port, new Dictionary<string, string> { [CrashPoints.Variable] = point }, ServerProcess.Arguments(config.Path, port));
        try
        {
            await server.WaitForOutputAsync($"crash point {point.Split('#')[0]} reached", PointTimeout);
        }
        catch (TimeoutException)
        {
            await server.DisposeAsync();
            Assert.Fail($"the server never reached {point}:\n{server.Output}");
        }

        return server;
    }

    private static async Task KillAsync(ServerProcess server)
    {
        await server.SignalAsync("KILL");
        await server.WaitForExitAsync(ExitTimeout);
    }

    private static async Task TerminateAsync(ServerProcess server)
    {
        await server.SignalAsync("TERM");
        Assert.That(await server.WaitForExitAsync(ExitTimeout), Is.EqualTo(0), server.Output);
    }

    private static async Task<ChatSocket> ConnectAsync(ServerProcess server, string token)
    {
        var socket = await ChatSocket.ConnectAsync(new Uri($"ws://{server.BaseUri.Authority}/chat?access_token={Uri.EscapeDataString(token)}"));
        await socket.RequestAsync(Frame(("command", "ping")));
        return socket;
    }

    private static async Task<long> PostAsync(ChatSocket socket, string room, string text)
    {
        var ack = await socket.RequestAsync(Frame(("room", room), ("message", text)));
        Assert.That(ack.TryGetProperty("id", out var id), Is.True, ack.ToString());
        return id.GetInt64();
    }

    // What the file holds, read directly: whether it is intact, its schema version, and the ids of a room.
    private async Task<(string Integrity, long Version, List<long> Ids)> InspectAsync(string room)
    {
        SqliteConnection.ClearAllPools();
        await using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA integrity_check";
        var integrity = (string)(await command.ExecuteScalarAsync())!;
        command.CommandText = "SELECT version FROM schema_version";
        var version = (long)(await command.ExecuteScalarAsync())!;
        command.CommandText = "SELECT m.seq FROM room_messages m JOIN rooms r ON r.id = m.room_id WHERE r.name = $room ORDER BY m.seq";
        command.Parameters.AddWithValue("$room", room);
        var ids = new List<long>();
        await using (var reader = await command.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                ids.Add(reader.GetInt64(0));
            }
        }

        return (integrity, version, ids);
    }

    // A file as an older release left it (or the current one): room 'lobby' with foo_user as member and 'messages'
    // messages, ids 1..messages.
    private void BuildFile(int version, int messages)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(DatabasePath)!);
        using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        connection.Open();
        SqliteSchema.Migrate(connection, 0, upTo: version);
        using var transaction = connection.BeginTransaction();
        using var command = connection.CreateCommand();
        command.CommandText =
            $"""
            INSERT INTO rooms (id, name, last_seq, created_at_ms) VALUES (1, 'lobby', {messages}, 0);
            INSERT INTO memberships (room_id, username) VALUES (1, 'foo_user');
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {messages})
            INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms)
            SELECT 1, i, 'foo_user', 'message ' || i || ' ' || hex(randomblob(40)), i * 1000 FROM n;
            """;
        command.ExecuteNonQuery();
        transaction.Commit();
    }

    [Test]
    public async Task Killed_inside_a_schema_migration_the_file_opens_at_the_old_version_and_the_next_start_migrates_it_with_every_message()
    {
        const int Messages = 50_000;
        WriteConfig();
        BuildFile(version: 2, Messages);

        var port = ServerProcess.FreePort();
        await using (var first = await HoldAtAsync("migration-3", port))
        {
            await KillAsync(first);
        }

        var killed = await InspectAsync("lobby");
        Assert.That((killed.Integrity, killed.Version, killed.Ids.Count), Is.EqualTo(("ok", 2L, Messages)), "the migration's transaction rolled back whole");

        await using (var second = await ServerProcess.StartAsync(config.Path, port))
        {
            var foo = await ConnectAsync(second, "foo_token");
            Assert.That(await PostAsync(foo, "lobby", "after the crash"), Is.EqualTo(Messages + 1), "ids carry on");
            await foo.DisposeAsync();
            await TerminateAsync(second);
        }

        var migrated = await InspectAsync("lobby");
        Assert.That((migrated.Integrity, migrated.Version), Is.EqualTo(("ok", (long)SqliteSchema.CurrentVersion)));
        Assert.That(migrated.Ids, Is.EqualTo(Enumerable.Range(1, Messages + 1).Select(i => (long)i)), "every message, no gap");
    }

    [Test]
    public async Task Killed_inside_a_retention_prune_the_file_opens_keeps_what_the_policy_keeps_and_ids_carry_on()
    {
        const int Messages = 9_000;
        const int Keep = 100;
        WriteConfig(storage: $$"""{"MaxMessagesPerRoom":{{Keep}}}""");
        BuildFile(SqliteSchema.CurrentVersion, Messages);

        // The prune runs at start in transactions of 2,000 deletions; the second one is killed half-way.
        var port = ServerProcess.FreePort();
        await using (var first = await HoldAtAsync("prune#2", port))
        {
            await KillAsync(first);
        }

        var killed = await InspectAsync("lobby");
        Assert.That(killed.Integrity, Is.EqualTo("ok"));
        Assert.That(killed.Ids, Is.EqualTo(Enumerable.Range(2_001, Messages - 2_000).Select(i => (long)i)), "the first prune transaction committed, the second rolled back whole");

        await using (var second = await ServerProcess.StartAsync(config.Path, port))
        {
            var foo = await ConnectAsync(second, "foo_token");
            Assert.That(await PostAsync(foo, "lobby", "after the crash"), Is.EqualTo(Messages + 1), "ids carry on past pruned ones");
            await foo.DisposeAsync();
            await TerminateAsync(second);
        }

        var after = await InspectAsync("lobby");
        Assert.That(after.Integrity, Is.EqualTo("ok"));
        Assert.That(after.Ids.TakeLast(Keep), Is.EqualTo(Enumerable.Range(Messages + 2 - Keep, Keep).Select(i => (long)i)), "the newest messages are all there");
        Assert.That(after.Ids, Is.Ordered.Ascending.And.Unique);
    }

    [Test]
    public async Task Killed_while_a_room_loop_starts_again_every_acknowledged_message_is_there_and_ids_carry_on()
    {
        const int Messages = 40;
        WriteConfig(runtime: """{"IdleRoomSeconds":1}""");
        var port = ServerProcess.FreePort();
        var acknowledged = new List<long>();

        // The lobby's loop starts (first passage), serves posts, retires once nobody uses it, and is held at its
        // second start: the one a returning member's greeting causes.
        await using (var first = await ServerProcess.StartAsync(config.Path, port, new Dictionary<string, string> { [CrashPoints.Variable] = "room-start:lobby#2" }))
        {
            await using (var foo = await ConnectAsync(first, "foo_token"))
            {
                await foo.RequestAsync(Frame(("command", "create"), ("room", "lobby")));
                await foo.RequestAsync(Frame(("command", "join"), ("room", "lobby")));
                for (var i = 0; i < Messages; i++)
                {
                    acknowledged.Add(await PostAsync(foo, "lobby", $"before {i}"));
                }
            }

            await WaitForNoRoomAsync(first);
            var returning = ConnectAsync(first, "foo_token");
            await first.WaitForOutputAsync("crash point room-start:lobby reached", PointTimeout);
            await KillAsync(first);
            try
            {
                await (await returning.WaitAsync(ExitTimeout)).DisposeAsync();
            }
            catch (Exception ex) when (ex is not TimeoutException)
            {
                // The returning member's connection died with the server.
            }
        }

        Assert.That(acknowledged, Is.EqualTo(Enumerable.Range(1, Messages).Select(i => (long)i)));
        var killed = await InspectAsync("lobby");
        Assert.That((killed.Integrity, killed.Ids), Is.EqualTo(("ok", acknowledged)));

        await using (var second = await ServerProcess.StartAsync(config.Path, port))
        {
            var foo = await ConnectAsync(second, "foo_token");
            Assert.That(await PostAsync(foo, "lobby", "after the crash"), Is.EqualTo(Messages + 1), "ids carry on, membership kept");
            await foo.DisposeAsync();
            await TerminateAsync(second);
        }
    }

    // Until every room's loop has retired (the lobby's among them), bounded.
    private static async Task WaitForNoRoomAsync(ServerProcess server)
    {
        using var http = new HttpClient { BaseAddress = server.BaseUri, Timeout = TimeSpan.FromSeconds(10) };
        using var limit = new CancellationTokenSource(PointTimeout);
        while (true)
        {
            var metrics = await http.GetStringAsync("/metrics", limit.Token);
            var rooms = metrics.Split('\n').FirstOrDefault(l => l.StartsWith("tinychat_rooms ", StringComparison.Ordinal) || l.StartsWith("tinychat_rooms{", StringComparison.Ordinal));
            if (rooms is not null && rooms.EndsWith(" 0", StringComparison.Ordinal))
            {
                return;
            }

            await Task.Delay(100, limit.Token);
        }
    }
}
