using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using TinyChat.Chat;
using TinyChat.Storage;
using TinyChat.Storage.Postgres;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Storage;

/// <summary>The PostgreSQL store on the shared test server, an empty database per test: schema, refusals, hashing, retention.</summary>
[Category("Postgres")]
public sealed class PostgresStoreTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 10, 15, 30, 125, TimeSpan.Zero);
    private static readonly CancellationToken None = CancellationToken.None;
    private readonly List<PostgresStore> opened = [];
    private PostgresServer server = null!;
    private string connectionString = null!;

    [SetUp]
    public async Task CreateDatabase()
    {
        server = await PostgresServer.SharedAsync();
        connectionString = await server.CreateDatabaseAsync();
    }

    [TearDown]
    public async Task CloseStores()
    {
        foreach (var store in opened)
        {
            await store.CloseAsync(None);
        }

        opened.Clear();
    }

    private PostgresStore NewStore(RetentionPolicy? retention = null, string? connection = null, ILogger<PostgresStore>? logger = null)
    {
        var store = new PostgresStore(
            new PostgresStoreSettings(connection ?? connectionString, retention ?? RetentionPolicy.Unlimited),
            TimeProvider.System,
            logger ?? NullLogger<PostgresStore>.Instance);
        opened.Add(store);
        return store;
    }

    private async Task<PostgresStore> OpenAsync(RetentionPolicy? retention = null)
    {
        var store = NewStore(retention);
        await store.OpenAsync(None);
        return store;
    }

    private async Task<object?> QueryAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteScalarAsync();
    }

    private static NewRoomMessage Record(string room, long id, DateTimeOffset? at = null) => new("foo_user", $"{room} message {id}", at ?? T0.AddSeconds(id));

    [Test]
    public async Task An_empty_database_is_migrated_to_the_current_schema_once()
    {
        var store = await OpenAsync();
        Assert.That(await QueryAsync("SELECT version FROM schema_version"), Is.EqualTo(PostgresSchema.CurrentVersion));
        await ((IRoomStore)store).TryCreateAsync("lobby", None);
        await store.CloseAsync(None);

        var again = await OpenAsync();
        Assert.That(await QueryAsync("SELECT count(*) FROM schema_version"), Is.EqualTo(1L));
        Assert.That(await ((IRoomStore)again).ExistsAsync("lobby", None), Is.True, "reopening keeps the data");
    }

    [Test]
    public async Task A_database_from_schema_version_1_opens_keeps_every_message_and_membership_and_takes_room_events()
    {
        await using (var old = new NpgsqlConnection(connectionString))
        {
            await old.OpenAsync();
            await PostgresSchema.MigrateAsync(old, "test", None, upTo: 1);
        }

        await QueryAsync(
            """
            INSERT INTO rooms (name, last_seq, created_at_ms) VALUES ('lobby', 3, 0);
            INSERT INTO memberships (room_id, username) SELECT id, u FROM rooms, unnest(ARRAY['foo_user', 'bar_user']) AS u;
            INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms) SELECT id, s, 'foo_user', 'message ' || s, s * 1000 FROM rooms, generate_series(1, 3) AS s;
            """);
        Assert.That(await QueryAsync("SELECT version FROM schema_version"), Is.EqualTo(1));

        var store = await OpenAsync();
        Assert.That(await QueryAsync("SELECT version FROM schema_version"), Is.EqualTo(PostgresSchema.CurrentVersion));
        var history = await store.RoomHistoryAsync("lobby", new HistoryQuery(null, null, 10), None);
        Assert.That(history.Select(m => (m.Id, m.Text, m.Kind)), Is.EqualTo(new[] { (1L, "message 1", (string?)null), (2L, "message 2", null), (3L, "message 3", null) }));
        Assert.That(await store.MembersAsync("lobby", None), Is.EquivalentTo(new[] { "foo_user", "bar_user" }));
        var access = await store.AccessAsync("lobby", None);
        Assert.That((access!.IsPrivate, access.Owner), Is.EqualTo((false, (string?)null)));

        var ban = new NewRoomMessage("admin", "", T0) { Kind = RoomEventKind.Ban, Target = "bar_user" };
        Assert.That(await store.AppendRoomMessagesAsync("lobby", [ban], None), Is.EqualTo(4));
        Assert.That(await store.MembersAsync("lobby", None), Is.EqualTo(new[] { "foo_user" }));
    }

    [Test]
    public async Task A_database_from_schema_version_4_opens_with_its_messages_searchable_and_its_conversations_listed_as_read()
    {
        await using (var old = new NpgsqlConnection(connectionString))
        {
            await old.OpenAsync();
            await PostgresSchema.MigrateAsync(old, "test", None, upTo: 4);
        }

        await QueryAsync(
            """
            INSERT INTO rooms (name, last_seq, created_at_ms) VALUES ('lobby', 3, 0);
            INSERT INTO memberships (room_id, username) SELECT id, 'bar_user' FROM rooms;
            INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms) SELECT id, s, 'foo_user', 'deploy number ' || s, s * 1000 FROM rooms, generate_series(1, 2) AS s;
            INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms, deleted) SELECT id, 3, 'foo_user', '', 3000, true FROM rooms;
            INSERT INTO private_messages (sender, recipient, body, sent_at_ms) VALUES ('foo_user', 'bar_user', 'deploy tonight?', 4000), ('bar_user', 'foo_user', 'yes', 5000);
            """);

        var store = await OpenAsync();
        Assert.That(await QueryAsync("SELECT version FROM schema_version"), Is.EqualTo(PostgresSchema.CurrentVersion));
        var deploy = SearchQuery.Parse("deploy").Value!;
        Assert.That((await store.SearchRoomsAsync(["lobby"], deploy, long.MaxValue, 10, None)).Select(h => h.Message.Id), Is.EqualTo(new[] { 2L, 1L }), "existing messages are indexed");
        Assert.That((await store.SearchPrivateAsync("bar_user", deploy, long.MaxValue, 10, None)).Single().Message.Text, Is.EqualTo("deploy tonight?"));
        var conversations = await store.ConversationsAsync("foo_user", 10, None);
        Assert.That(conversations.Select(c => (c.With, c.LastId, c.Unread)), Is.EqualTo(new[] { ("bar_user", 2L, 0) }), "existing conversations count as read");
        Assert.That((await store.RoomReadStatesAsync("bar_user", ["lobby"], None)).Single(), Is.EqualTo(new RoomReadState("lobby", 3, 0, 0)));
        Assert.That(await store.AppendPrivateMessageAsync("bar_user", "foo_user", "new", T0, None), Is.EqualTo(3));
        Assert.That((await store.ConversationAsync("foo_user", "bar_user", None)).Unread, Is.EqualTo(1), "the trigger keeps the conversation current");
    }

    [Test]
    public async Task A_search_reads_the_text_index_not_the_table()
    {
        var store = await OpenAsync();
        await ((IRoomStore)store).TryCreateAsync("lobby", None);
        // Big enough that reading the table would cost more than the index (a tiny table is read whole, rightly).
        await QueryAsync("INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms) SELECT id, s, 'foo_user', 'filler text ' || s, 0 FROM rooms, generate_series(1, 20000) AS s");
        await QueryAsync("VACUUM ANALYZE room_messages");
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var explain = new NpgsqlCommand(
            "EXPLAIN SELECT m.id FROM room_messages m WHERE m.search @@ to_tsquery('simple', 'needle') AND m.id < 9223372036854775807 ORDER BY m.id + 0 DESC LIMIT 20",
            connection);
        var lines = new List<string>();
        await using (var reader = await explain.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                lines.Add(reader.GetString(0));
            }
        }

        var plan = string.Join("\n", lines);
        Assert.That(plan, Does.Contain("Bitmap Index Scan on room_messages_search"), plan);
        Assert.That(plan, Does.Not.Contain("Seq Scan"), plan);
    }

    [Test]
    public async Task Nodes_starting_together_on_an_empty_database_all_open_it()
    {
        var stores = Enumerable.Range(0, 4).Select(_ => NewStore()).ToList();
        await Task.WhenAll(stores.Select(s => Task.Run(() => s.OpenAsync(None)))).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.That(await QueryAsync("SELECT version FROM schema_version"), Is.EqualTo(PostgresSchema.CurrentVersion));
    }

    [Test]
    public async Task A_database_with_a_newer_schema_is_refused_and_left_untouched()
    {
        await (await OpenAsync()).CloseAsync(None);
        await QueryAsync("UPDATE schema_version SET version = 999");

        var ex = Assert.ThrowsAsync<StorageException>(() => NewStore().OpenAsync(None));
        Assert.That(ex!.Message, Does.Contain("schema version 999").And.Contain(new NpgsqlConnectionStringBuilder(connectionString).Database));
        Assert.That(await QueryAsync("SELECT version FROM schema_version"), Is.EqualTo(999));
    }

    [Test]
    public async Task A_database_of_someone_else_is_refused_and_left_untouched()
    {
        await QueryAsync("CREATE TABLE invoices (id int)");

        var ex = Assert.ThrowsAsync<StorageException>(() => NewStore().OpenAsync(None));
        Assert.That(ex!.Message, Does.Contain("not a TinyChat database"));
        Assert.That(await QueryAsync("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"), Is.EqualTo(1L));
    }

    [Test]
    public void An_unreachable_server_stops_opening_with_host_port_and_database_but_never_the_password()
    {
        var closed = ServerProcess.FreePort();
        var store = NewStore(connection: $"Host=127.0.0.1;Port={closed};Database=chat;Username=tinychat;Password=hunter2;Timeout=3");

        var ex = Assert.ThrowsAsync<StorageException>(() => store.OpenAsync(None));
        Assert.That(ex!.Message, Does.Contain($"127.0.0.1:{closed}/chat").And.Not.Contain("hunter2"));
        Assert.That(new PostgresStoreSettings("Host=h;Password=hunter2", RetentionPolicy.Unlimited).ToString(), Does.Not.Contain("hunter2"));
    }

    [Test]
    public async Task Tokens_are_stored_only_as_their_sha256()
    {
        var store = await OpenAsync();
        await store.TryCreateAsync("alice", "alice-secret-token", None);
        await store.UpsertAsync("seed", "seed-secret-token", None);

        Assert.That(await QueryAsync("SELECT token_hash FROM accounts WHERE username = 'alice'"), Is.EqualTo(SHA256.HashData(Encoding.UTF8.GetBytes("alice-secret-token"))));
        Assert.That(await QueryAsync("SELECT count(*) FROM accounts WHERE position('secret' in encode(token_hash, 'escape')) > 0"), Is.EqualTo(0L));
        Assert.That(await store.AuthenticateAsync("seed-secret-token", None), Is.EqualTo("seed"));
    }

    [Test]
    public async Task Pruning_keeps_the_newest_messages_per_room_and_sequence_numbers_never_go_back()
    {
        var store = await OpenAsync(new RetentionPolicy(MaxMessagesPerRoom: 5, MaxAge: TimeSpan.Zero));
        IRoomStore rooms = store;
        await rooms.TryCreateAsync("busy", None);
        await rooms.TryCreateAsync("quiet", None);
        await store.AppendRoomMessagesAsync("busy", [.. Enumerable.Range(1, 12).Select(i => Record("busy", i))], None);
        await store.AppendRoomMessagesAsync("quiet", [.. Enumerable.Range(1, 3).Select(i => Record("quiet", i))], None);

        Assert.That(await store.PruneAsync(DateTimeOffset.UtcNow, None), Is.EqualTo(7));
        Assert.That(await store.PruneAsync(DateTimeOffset.UtcNow, None), Is.Zero);
        Assert.That((await store.RoomHistoryAsync("busy", new HistoryQuery(null, 0, 50), None)).Select(m => m.Id), Is.EqualTo(new long[] { 8, 9, 10, 11, 12 }));
        Assert.That((await store.RoomHistoryAsync("quiet", new HistoryQuery(null, 0, 50), None)).Count, Is.EqualTo(3));
        Assert.That(await store.AppendRoomMessagesAsync("busy", [Record("busy", 13)], None), Is.EqualTo(13));
    }

    [Test]
    public async Task Pruning_by_age_removes_old_room_and_private_messages_in_bounded_statements()
    {
        var store = await OpenAsync(new RetentionPolicy(MaxMessagesPerRoom: 0, MaxAge: TimeSpan.FromDays(30)));
        await ((IRoomStore)store).TryCreateAsync("a", None);
        var now = T0.AddDays(100);
        for (var batch = 0; batch < 5; batch++)
        {
            await store.AppendRoomMessagesAsync("a", [.. Enumerable.Range(0, 500).Select(i => Record("a", i, at: T0))], None);
        }

        await store.AppendRoomMessagesAsync("a", [Record("a", 1, at: now.AddDays(-1)), Record("a", 2, at: now)], None);
        await store.AppendPrivateMessageAsync("x", "y", "old", T0, None);
        var newPrivate = await store.AppendPrivateMessageAsync("x", "y", "new", now, None);

        Assert.That(await store.PruneAsync(now, None), Is.EqualTo(2501), "2500 room messages (two statements and a bit) and one private one");
        Assert.That((await store.RoomHistoryAsync("a", new HistoryQuery(null, 0, 50), None)).Select(m => m.Id), Is.EqualTo(new long[] { 2501, 2502 }));
        Assert.That((await store.PrivateHistoryAsync("x", "y", new HistoryQuery(null, 0, 50), None)).Select(m => m.Id), Is.EqualTo(new[] { newPrivate }));
        Assert.That(await store.AppendPrivateMessageAsync("x", "y", "later", now, None), Is.GreaterThan(newPrivate));
    }

    [Test]
    public async Task A_private_history_read_can_use_the_pair_index()
    {
        await OpenAsync();
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using (var off = new NpgsqlCommand("SET enable_seqscan = off", connection))
        {
            await off.ExecuteNonQueryAsync();
        }

        await using var plan = new NpgsqlCommand(
            "EXPLAIN SELECT id FROM private_messages WHERE least(sender, recipient) = 'a' AND greatest(sender, recipient) = 'b' AND id < 10 ORDER BY id DESC LIMIT 5",
            connection);
        var lines = new List<string>();
        await using (var reader = await plan.ExecuteReaderAsync())
        {
            while (await reader.ReadAsync())
            {
                lines.Add(reader.GetString(0));
            }
        }

        Assert.That(string.Join("\n", lines), Does.Contain("private_messages_by_pair"));
    }
}
