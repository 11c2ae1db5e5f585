using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using TinyChat.Chat;
using TinyChat.Hosting;
using TinyChat.Storage;
using TinyChat.Storage.Postgres;
using TinyChat.Storage.Sqlite;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Storage;

/// <summary>SQLite to PostgreSQL: <see cref="StorageCopy"/> and the <c>migrate-storage</c> command, on a real file and a real server.</summary>
[Category("Postgres")]
public sealed class StorageCopyTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 10, 15, 30, 125, TimeSpan.Zero);
    private static readonly CancellationToken None = CancellationToken.None;
    private TempConfig config = null!;
    private string connectionString = null!;

    private string SqlitePath => Path.Combine(config.Directory, "data", SqliteStoreSettings.FileName);

    [SetUp]
    public async Task CreateStores()
    {
        config = new TempConfig();
        connectionString = await (await PostgresServer.SharedAsync()).CreateDatabaseAsync();
    }

    [TearDown]
    public void RemoveFolder()
    {
        SqliteConnection.ClearAllPools();
        config.Dispose();
    }

    private SqliteStore NewSqlite(RetentionPolicy? retention = null) =>
        new(new SqliteStoreSettings(SqlitePath, SqliteSynchronous.Normal, retention ?? RetentionPolicy.Unlimited), TimeProvider.System, NullLogger<SqliteStore>.Instance);

    private PostgresStore NewPostgres() =>
        new(new PostgresStoreSettings(connectionString, RetentionPolicy.Unlimited), TimeProvider.System, NullLogger<PostgresStore>.Instance);

    [Test]
    public async Task Private_rooms_owners_topics_standings_room_events_edits_and_tombstones_are_copied_as_they_are()
    {
        var source = NewSqlite();
        await source.OpenAsync(None);
        IRoomStore rooms = source;
        await rooms.TryCreateAsync("plans", "alice", true, None);
        await rooms.AddMemberAsync("plans", "alice", None);
        await rooms.AddMemberAsync("plans", "bob", None);
        var until = T0.AddHours(1);
        await source.AppendRoomMessagesAsync("plans", [new NewRoomMessage("bob", "helo", T0), new NewRoomMessage("bob", "spam", T0)], None);
        await source.AppendRoomMessagesAsync(
            "plans",
            [
                new NewRoomMessage("bob", "hello", T0.AddSeconds(5)) { Kind = RoomEventKind.Edit, RefersTo = 1 },
                new NewRoomMessage("alice", "", T0) { Kind = RoomEventKind.Delete, RefersTo = 2 },
                new NewRoomMessage("alice", "moderator", T0) { Kind = RoomEventKind.Role, Target = "bob" },
                new NewRoomMessage("alice", "", T0) { Kind = RoomEventKind.Invite, Target = "carol" },
                new NewRoomMessage("alice", "", T0) { Kind = RoomEventKind.Mute, Target = "dave", Until = until },
                new NewRoomMessage("alice", "", T0) { Kind = RoomEventKind.Ban, Target = "eve" },
                new NewRoomMessage("alice", "friday", T0) { Kind = RoomEventKind.Topic },
            ],
            None);
        var expected = await source.RoomHistoryAsync("plans", new HistoryQuery(null, 0, 50), None);
        var expectedAccess = await rooms.AccessAsync("plans", None);

        var target = NewPostgres();
        await target.OpenAsync(None);
        await StorageCopy.CopyAsync(new SqliteExport(source), new PostgresImport(target), None);
        await source.CloseAsync(None);

        var copied = await target.RoomHistoryAsync("plans", new HistoryQuery(null, 0, 50), None);
        Assert.That(
            copied.Select(m => (m.Id, m.From, m.Text, m.Kind, m.Target, m.RefersTo, m.Until, m.EditedAt, m.Deleted)),
            Is.EqualTo(expected.Select(m => (m.Id, m.From, m.Text, m.Kind, m.Target, m.RefersTo, m.Until, m.EditedAt, m.Deleted))));
        Assert.That(copied[0].EditedAt, Is.EqualTo(T0.AddSeconds(5)));
        Assert.That(copied[1].Deleted, Is.True);
        var access = (await ((IRoomStore)target).AccessAsync("plans", None))!;
        Assert.That((access.IsPrivate, access.Owner, access.Topic), Is.EqualTo((expectedAccess!.IsPrivate, expectedAccess.Owner, expectedAccess.Topic)));
        Assert.That((access.IsPrivate, access.Owner, access.Topic), Is.EqualTo((true, (string?)"alice", (string?)"friday")));
        Assert.That(access.Moderators, Is.EquivalentTo(new[] { "bob" }));
        Assert.That(access.Invited, Is.EquivalentTo(new[] { "carol" }));
        Assert.That(access.Banned, Is.EquivalentTo(new[] { "eve" }));
        Assert.That(access.MutedUntil["dave"], Is.EqualTo(until));
        await target.CloseAsync(None);
    }

    // Two rooms (one pruned, so its last number is past its oldest kept row), memberships, private messages.
    private async Task<(long[] Private, long LastPrivate)> FillSqliteAsync()
    {
        var store = NewSqlite(new RetentionPolicy(MaxMessagesPerRoom: 5, MaxAge: TimeSpan.Zero));
        await store.OpenAsync(None);
        IRoomStore rooms = store;
        await store.TryCreateAsync("alice", "alice-token", None);
        await store.UpsertAsync("bob", "bob-token", None);
        await rooms.TryCreateAsync("lobby", None);
        await rooms.TryCreateAsync("quiet", None);
        await rooms.AddMemberAsync("lobby", "alice", None);
        await rooms.AddMemberAsync("lobby", "bob", None);
        await rooms.AddMemberAsync("quiet", "bob", None);
        await store.AppendRoomMessagesAsync("lobby", [.. Enumerable.Range(1, 8).Select(i => new NewRoomMessage("alice", $"lobby {i}", T0.AddSeconds(i)))], None);
        await store.AppendRoomMessagesAsync("quiet", [new NewRoomMessage("bob", "héllo ✓", T0)], None);
        long[] ids =
        [
            await store.AppendPrivateMessageAsync("alice", "bob", "hi bob", T0, None),
            await store.AppendPrivateMessageAsync("bob", "alice", "hi alice", T0.AddSeconds(1), None),
        ];
        var last = await store.AppendPrivateMessageAsync("alice", "carol", "pruned later", T0, None);
        await store.PruneAsync(DateTimeOffset.UtcNow, None);
        await using (var connection = new SqliteConnection($"Data Source={SqlitePath};Pooling=False"))
        {
            // The newest private message is gone (pruned, say): its id must still never be handed out again.
            await connection.OpenAsync();
            await using var delete = connection.CreateCommand();
            delete.CommandText = $"DELETE FROM private_messages WHERE id = {last}";
            await delete.ExecuteNonQueryAsync();
        }

        await store.CloseAsync(None);
        return (ids, last);
    }

    [Test]
    public async Task A_copy_keeps_users_hashed_tokens_rooms_memberships_sequence_numbers_and_history()
    {
        var (privateIds, lastPrivate) = await FillSqliteAsync();
        var source = NewSqlite();
        await source.OpenAsync(None);
        await using var target = NewPostgres();
        await target.OpenAsync(None);

        var counts = await StorageCopy.CopyAsync(new SqliteExport(source), new PostgresImport(target), None);
        await source.CloseAsync(None);

        Assert.That(counts, Is.EqualTo(new StorageCopyCounts(Users: 2, Rooms: 2, Memberships: 3, RoomMessages: 6, PrivateMessages: 2)));
        Assert.That(await target.AuthenticateAsync("alice-token", None), Is.EqualTo("alice"));
        Assert.That(await target.AuthenticateAsync("bob-token", None), Is.EqualTo("bob"));
        IRoomStore rooms = target;
        Assert.That(await rooms.ListAsync(None), Is.EqualTo(new[] { "lobby", "quiet" }));
        Assert.That(await rooms.MembersAsync("lobby", None), Is.EqualTo(new[] { "alice", "bob" }));
        Assert.That(await rooms.RoomsOfAsync("bob", None), Is.EqualTo(new[] { "lobby", "quiet" }));

        var lobby = await target.RoomHistoryAsync("lobby", new HistoryQuery(null, 0, 50), None);
        Assert.That(lobby.Select(m => (m.Id, m.From, m.Text, m.Timestamp)), Is.EqualTo(Enumerable.Range(4, 5).Select(i => ((long)i, "alice", $"lobby {i}", T0.AddSeconds(i)))));
        Assert.That((await target.RoomHistoryAsync("quiet", new HistoryQuery(null, 0, 50), None)).Single().Text, Is.EqualTo("héllo ✓"));
        Assert.That(await target.LastRoomIdAsync("lobby", None), Is.EqualTo(8));
        Assert.That(await target.AppendRoomMessagesAsync("lobby", [new NewRoomMessage("bob", "on postgres", T0)], None), Is.EqualTo(9), "numbering carries on");

        var conversation = await target.PrivateHistoryAsync("alice", "bob", new HistoryQuery(null, 0, 50), None);
        Assert.That(conversation.Select(m => (m.Id, m.Text)), Is.EqualTo(new[] { (privateIds[0], "hi bob"), (privateIds[1], "hi alice") }));
        Assert.That(await target.AppendPrivateMessageAsync("bob", "alice", "next", T0, None), Is.GreaterThan(lastPrivate), "an id once handed out is never handed out again");
    }

    [Test]
    public async Task A_target_that_is_not_empty_is_refused_and_nothing_is_written()
    {
        await FillSqliteAsync();
        await using var target = NewPostgres();
        await target.OpenAsync(None);
        await ((IRoomStore)target).TryCreateAsync("existing", None);
        var source = NewSqlite();
        await source.OpenAsync(None);

        var ex = Assert.ThrowsAsync<StorageException>(() => StorageCopy.CopyAsync(new SqliteExport(source), new PostgresImport(target), None));
        await source.CloseAsync(None);

        Assert.That(ex!.Message, Does.Contain("not empty"));
        Assert.That(await ((IRoomStore)target).ListAsync(None), Is.EqualTo(new[] { "existing" }));
        Assert.That(await target.ExistsAsync("alice", None), Is.False);
    }

    [Test]
    public async Task The_command_copies_the_configured_store_and_prints_the_counts()
    {
        await FillSqliteAsync();
        var (code, output, error) = await RunAsync("--config", config.Path, "--to", connectionString + ";Password=hunter2");

        Assert.That(code, Is.Zero, error);
        Assert.That(output, Does.Contain("2 users, 2 rooms, 3 memberships, 6 room messages, 2 private messages"));
        Assert.That(output + error, Does.Not.Contain("hunter2"));
        await using var target = NewPostgres();
        await target.OpenAsync(None);
        Assert.That(await target.AuthenticateAsync("alice-token", None), Is.EqualTo("alice"));

        // Again: the target is no longer empty.
        (code, _, error) = await RunAsync("--config", config.Path, "--to", connectionString);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(error, Does.Contain("not empty"));
    }

    [Test]
    public async Task The_command_takes_configuration_keys_on_its_command_line_as_the_server_does()
    {
        await FillSqliteAsync();
        using var elsewhere = new TempConfig();

        var (code, output, error) = await RunAsync("--config", elsewhere.Path, "--Storage:DataDirectory", Path.GetDirectoryName(SqlitePath)!, "--to", connectionString);

        Assert.That(code, Is.Zero, error);
        Assert.That(output, Does.Contain($"copied {SqlitePath}"));
    }

    [Test]
    public async Task The_command_refuses_while_a_server_uses_the_store()
    {
        await FillSqliteAsync();
        var running = NewSqlite();
        await running.OpenAsync(None);
        try
        {
            var (code, _, error) = await RunAsync("--config", config.Path, "--to", connectionString);
            Assert.That(code, Is.EqualTo(1));
            Assert.That(error, Does.Contain("in use by another TinyChat process"));
        }
        finally
        {
            await running.CloseAsync(None);
        }
    }

    [TestCase(new string[0], "--to \"CONNECTION STRING\" is required")]
    [TestCase(new[] { "--to" }, "--to needs a value")]
    [TestCase(new[] { "--to", "Database=chat" }, "names no Host")]
    [TestCase(new[] { "--to", "Host=db", "--bogus" }, "unknown option '--bogus'")]
    public async Task A_usage_error_exits_2_with_one_line(string[] args, string why)
    {
        var (code, output, error) = await RunAsync([.. args, "--config", config.Path]);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(error, Does.Contain(why));
        Assert.That(error.TrimEnd(), Does.Not.Contain("\n"));
        Assert.That(output, Is.Empty);
    }

    [Test]
    public async Task The_command_refuses_a_missing_sqlite_store_without_creating_one()
    {
        var (code, _, error) = await RunAsync("--config", config.Path, "--to", connectionString);
        Assert.That(code, Is.EqualTo(1));
        Assert.That(error, Does.Contain("no SQLite store"));
        Assert.That(File.Exists(SqlitePath), Is.False);
    }

    private static async Task<(int Code, string Output, string Error)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var code = await AdminCommandLine.RunAsync([MigrateStorageCommand.Name, .. args], output, error, None);
        return (code, output.ToString(), error.ToString());
    }
}
