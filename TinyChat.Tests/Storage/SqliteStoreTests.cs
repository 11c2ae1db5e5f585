using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using TinyChat.Chat;
using TinyChat.Storage;
using TinyChat.Storage.Sqlite;

namespace TinyChat.Tests.Storage;

/// <summary>The SQLite store on real files in a temp folder.</summary>
[TestFixture]
public sealed class SqliteStoreTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 10, 15, 30, 125, TimeSpan.Zero);
    private readonly List<SqliteStore> opened = [];
    private string directory = null!;

    private string DatabasePath => Path.Combine(directory, "data", SqliteStoreSettings.FileName);

    [SetUp]
    public void CreateFolder()
    {
        directory = Path.Combine(Path.GetTempPath(), "tinychat-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
    }

    [TearDown]
    public async Task RemoveFolder()
    {
        foreach (var store in opened)
        {
            await store.CloseAsync(CancellationToken.None);
        }

        opened.Clear();
        SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    private SqliteStore NewStore(RetentionPolicy? retention = null) =>
        new(new SqliteStoreSettings(DatabasePath, SqliteSynchronous.Full, retention ?? RetentionPolicy.Unlimited), TimeProvider.System, NullLogger<SqliteStore>.Instance);

    private async Task<SqliteStore> OpenAsync(RetentionPolicy? retention = null)
    {
        var store = NewStore(retention);
        await store.OpenAsync(CancellationToken.None);
        opened.Add(store);
        return store;
    }

    private async Task CloseAsync(SqliteStore store)
    {
        await store.CloseAsync(CancellationToken.None);
        opened.Remove(store);
    }

    // The store numbers messages; the text and time carry the number the test expects, so a wrong one shows.
    private static NewRoomMessage Record(string room, long id, string from = "foo_user", DateTimeOffset? at = null) =>
        new(from, $"{room} message {id}", at ?? T0.AddSeconds(id));

    private static async Task<long> ReadVersionAsync(string path)
    {
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT version FROM schema_version";
        return (long)(await command.ExecuteScalarAsync())!;
    }

    private static async Task ExecuteAsync(string path, string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    [Test]
    public async Task Opening_creates_the_data_folder_and_file_and_migrates_an_empty_file_to_the_current_version()
    {
        Assert.That(Directory.Exists(Path.GetDirectoryName(DatabasePath)), Is.False);
        var store = await OpenAsync();
        Assert.That(File.Exists(DatabasePath), Is.True);
        await CloseAsync(store);
        Assert.That(await ReadVersionAsync(DatabasePath), Is.EqualTo(SqliteSchema.CurrentVersion));

        // Opening again finds the current version and changes nothing.
        store = await OpenAsync();
        Assert.That(await store.ListAsync(CancellationToken.None), Is.Empty);
        await CloseAsync(store);
        Assert.That(await ReadVersionAsync(DatabasePath), Is.EqualTo(SqliteSchema.CurrentVersion));
    }

    [Test]
    public async Task A_file_from_schema_version_1_opens_keeps_every_message_and_membership_and_takes_room_events()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(DatabasePath)!);
        await using (var old = new SqliteConnection($"Data Source={DatabasePath};Pooling=False"))
        {
            await old.OpenAsync();
            SqliteSchema.Migrate(old, 0, upTo: 1);
            await using var fill = old.CreateCommand();
            fill.CommandText =
                """
                INSERT INTO rooms (id, name, last_seq, created_at_ms) VALUES (1, 'lobby', 3, 0);
                INSERT INTO memberships (room_id, username) VALUES (1, 'foo_user'), (1, 'bar_user');
                INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms) VALUES (1, 1, 'foo_user', 'one', 1000), (1, 2, 'bar_user', 'two', 2000), (1, 3, 'foo_user', 'three', 3000);
                INSERT INTO private_messages (sender, recipient, body, sent_at_ms) VALUES ('foo_user', 'bar_user', 'psst', 4000);
                """;
            await fill.ExecuteNonQueryAsync();
        }

        Assert.That(await ReadVersionAsync(DatabasePath), Is.EqualTo(1));
        var store = await OpenAsync();
        Assert.That(await ReadVersionAsync(DatabasePath), Is.EqualTo(SqliteSchema.CurrentVersion));
        var history = await store.RoomHistoryAsync("lobby", new HistoryQuery(null, null, 10), CancellationToken.None);
        Assert.That(history.Select(m => (m.Id, m.From, m.Text, m.Kind, m.Deleted)), Is.EqualTo(new[]
        {
            (1L, "foo_user", "one", (string?)null, false), (2L, "bar_user", "two", null, false), (3L, "foo_user", "three", null, false),
        }));
        Assert.That(await store.MembersAsync("lobby", CancellationToken.None), Is.EquivalentTo(new[] { "foo_user", "bar_user" }));
        Assert.That((await store.PrivateHistoryAsync("bar_user", "foo_user", new HistoryQuery(null, null, 10), CancellationToken.None)).Single().Text, Is.EqualTo("psst"));
        var access = await store.AccessAsync("lobby", CancellationToken.None);
        Assert.That((access!.IsPrivate, access.Owner, access.Topic), Is.EqualTo((false, (string?)null, (string?)null)), "an existing room is public and owned by nobody");

        var edit = new NewRoomMessage("foo_user", "ONE", T0) { Kind = RoomEventKind.Edit, RefersTo = 1 };
        Assert.That(await store.AppendRoomMessagesAsync("lobby", [edit], CancellationToken.None), Is.EqualTo(4));
        Assert.That((await store.FindRoomMessageAsync("lobby", 1, CancellationToken.None))!.Text, Is.EqualTo("ONE"));
    }

    [Test]
    public async Task A_file_from_schema_version_4_opens_with_every_message_searchable_and_its_conversations_listed_as_read()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(DatabasePath)!);
        await using (var old = new SqliteConnection($"Data Source={DatabasePath};Pooling=False"))
        {
            await old.OpenAsync();
            SqliteSchema.Migrate(old, 0, upTo: 4);
            await using var fill = old.CreateCommand();
            fill.CommandText =
                """
                INSERT INTO rooms (id, name, last_seq, created_at_ms) VALUES (1, 'lobby', 4, 0);
                INSERT INTO memberships (room_id, username) VALUES (1, 'foo_user'), (1, 'bar_user');
                INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms) VALUES (1, 1, 'foo_user', 'deploy one', 1000), (1, 2, 'bar_user', 'deploy two', 2000);
                INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms, deleted) VALUES (1, 3, 'foo_user', '', 3000, 1);
                INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms, kind, refers_to) VALUES (1, 4, 'foo_user', 'deploy edit', 3500, 'edit', 1);
                INSERT INTO private_messages (sender, recipient, body, sent_at_ms) VALUES ('foo_user', 'bar_user', 'deploy tonight?', 4000), ('bar_user', 'foo_user', 'yes', 5000);
                """;
            await fill.ExecuteNonQueryAsync();
        }

        var store = await OpenAsync();
        Assert.That(await ReadVersionAsync(DatabasePath), Is.EqualTo(SqliteSchema.CurrentVersion));
        Assert.That((await store.RoomHistoryAsync("lobby", new HistoryQuery(null, null, 10), CancellationToken.None)).Count, Is.EqualTo(4), "every row is kept");
        var deploy = SearchQuery.Parse("deploy").Value!;
        Assert.That((await store.SearchRoomsAsync(["lobby"], deploy, long.MaxValue, 10, CancellationToken.None)).Select(h => h.Message.Id), Is.EqualTo(new[] { 2L, 1L }), "the index was filled with the chat messages (not events)");
        Assert.That((await store.SearchPrivateAsync("bar_user", deploy, long.MaxValue, 10, CancellationToken.None)).Single().Message.Text, Is.EqualTo("deploy tonight?"));
        var conversations = await store.ConversationsAsync("foo_user", 10, CancellationToken.None);
        Assert.That(conversations.Select(c => (c.With, c.LastId, c.Unread)), Is.EqualTo(new[] { ("bar_user", 2L, 0) }), "existing conversations count as read");
        Assert.That((await store.RoomReadStatesAsync("bar_user", ["lobby"], CancellationToken.None)).Single(), Is.EqualTo(new RoomReadState("lobby", 4, 0, 0)));
        await store.AppendPrivateMessageAsync("bar_user", "foo_user", "new", T0, CancellationToken.None);
        Assert.That((await store.ConversationAsync("foo_user", "bar_user", CancellationToken.None)).Unread, Is.EqualTo(1), "the trigger keeps the conversation current");
    }

    [Test]
    public async Task A_search_starts_from_the_full_text_index_and_looks_messages_up_by_key()
    {
        var store = await OpenAsync();
        var plan = await store.ExplainSearchAsync(SearchQuery.Parse("deploy").Value!, CancellationToken.None);
        Assert.That(plan, Does.Contain("SCAN s VIRTUAL TABLE INDEX"), plan);
        Assert.That(plan, Does.Contain("SEARCH m USING INTEGER PRIMARY KEY"), plan);
        Assert.That(plan, Does.Not.Contain("SCAN m").And.Not.Contain("SCAN room_messages"), plan);
    }

    [Test]
    public async Task A_file_with_a_newer_schema_version_is_refused_with_a_clear_message()
    {
        await CloseAsync(await OpenAsync());
        await ExecuteAsync(DatabasePath, $"UPDATE schema_version SET version = {SqliteSchema.CurrentVersion + 5}");
        var before = await File.ReadAllBytesAsync(DatabasePath);

        var refused = Assert.ThrowsAsync<StorageException>(() => NewStore().OpenAsync(CancellationToken.None));
        Assert.That(refused!.Message, Does.Contain(DatabasePath));
        Assert.That(refused.Message, Does.Contain($"schema version {SqliteSchema.CurrentVersion + 5}"));
        Assert.That(refused.Message, Does.Contain("newer"));
        Assert.That(refused.Message, Does.Not.Contain("\n"));
        Assert.That(await File.ReadAllBytesAsync(DatabasePath), Is.EqualTo(before));
    }

    [Test]
    public async Task A_corrupt_file_is_refused_naming_it_and_is_left_untouched()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(DatabasePath)!);
        var garbage = new byte[3 * 4096];
        new Random(42).NextBytes(garbage);
        await File.WriteAllBytesAsync(DatabasePath, garbage);

        var refused = Assert.ThrowsAsync<StorageException>(() => NewStore().OpenAsync(CancellationToken.None));
        Assert.That(refused!.Message, Does.Contain(DatabasePath));
        Assert.That(refused.Message, Does.Contain("not a SQLite database"));
        Assert.That(refused.Message, Does.Not.Contain("\n"));
        Assert.That(await File.ReadAllBytesAsync(DatabasePath), Is.EqualTo(garbage));
        Assert.That(File.Exists(DatabasePath + "-wal"), Is.False);
    }

    [Test]
    public async Task A_sqlite_file_that_is_not_tinychats_is_refused_and_left_untouched()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(DatabasePath)!);
        await ExecuteAsync(DatabasePath, "CREATE TABLE invoices (id INTEGER PRIMARY KEY)");
        var before = await File.ReadAllBytesAsync(DatabasePath);

        var refused = Assert.ThrowsAsync<StorageException>(() => NewStore().OpenAsync(CancellationToken.None));
        Assert.That(refused!.Message, Does.Contain("not a TinyChat data file"));
        Assert.That(await File.ReadAllBytesAsync(DatabasePath), Is.EqualTo(before));
    }

    [Test]
    public async Task A_second_store_on_the_same_file_is_refused_while_the_first_is_open()
    {
        var first = await OpenAsync();
        var refused = Assert.ThrowsAsync<StorageException>(() => NewStore().OpenAsync(CancellationToken.None));
        Assert.That(refused!.Message, Does.Contain("in use by another TinyChat process"));

        await CloseAsync(first);
        await CloseAsync(await OpenAsync());
    }

    [Test]
    public async Task Accounts_survive_a_reopen_and_only_the_token_hash_is_stored()
    {
        const string token = "Sup3r-Secret-Token-Value-0123456789abcdef";
        const string seedToken = "seed-token-that-must-not-be-stored-raw";
        var store = await OpenAsync();
        Assert.That(await store.TryCreateAsync("alice", token, CancellationToken.None), Is.True);
        Assert.That(await store.TryCreateAsync("alice", "another token", CancellationToken.None), Is.False);
        await store.UpsertAsync("seed", "old seed token", CancellationToken.None);
        await store.UpsertAsync("seed", seedToken, CancellationToken.None);
        await CloseAsync(store);

        store = await OpenAsync();
        Assert.That(await store.AuthenticateAsync(token, CancellationToken.None), Is.EqualTo("alice"));
        Assert.That(await store.AuthenticateAsync(seedToken, CancellationToken.None), Is.EqualTo("seed"));
        Assert.That(await store.AuthenticateAsync("old seed token", CancellationToken.None), Is.Null);
        Assert.That(await store.AuthenticateAsync("another token", CancellationToken.None), Is.Null);
        Assert.That(await store.ExistsAsync("alice", CancellationToken.None), Is.True);
        Assert.That(await store.ExistsAsync("bob", CancellationToken.None), Is.False);
        await CloseAsync(store);

        var bytes = Directory.GetFiles(Path.GetDirectoryName(DatabasePath)!).SelectMany(File.ReadAllBytes).ToArray();
        Assert.That(Contains(bytes, Encoding.UTF8.GetBytes(token)), Is.False, "raw token in the data files");
        Assert.That(Contains(bytes, Encoding.UTF8.GetBytes(seedToken)), Is.False, "raw seed token in the data files");
        Assert.That(Contains(bytes, TokenHash.Of(token)), Is.True, "the token's hash should be stored");
    }

    private static bool Contains(byte[] haystack, byte[] needle) => haystack.AsSpan().IndexOf(needle) >= 0;

    [Test]
    public async Task Rooms_and_memberships_survive_a_reopen()
    {
        var store = await OpenAsync();
        IRoomStore rooms = store;
        Assert.That(await rooms.TryCreateAsync("lobby", CancellationToken.None), Is.True);
        Assert.That(await rooms.TryCreateAsync("lobby", CancellationToken.None), Is.False);
        Assert.That(await rooms.TryCreateAsync("default", CancellationToken.None), Is.True);
        Assert.That(await rooms.AddMemberAsync("lobby", "foo_user", CancellationToken.None), Is.True);
        Assert.That(await rooms.AddMemberAsync("lobby", "foo_user", CancellationToken.None), Is.False);
        Assert.That(await rooms.AddMemberAsync("lobby", "bar_user", CancellationToken.None), Is.True);
        Assert.That(await rooms.AddMemberAsync("default", "foo_user", CancellationToken.None), Is.True);
        Assert.That(await rooms.AddMemberAsync("nowhere", "foo_user", CancellationToken.None), Is.False);
        Assert.That(await rooms.RemoveMemberAsync("lobby", "bar_user", CancellationToken.None), Is.True);
        Assert.That(await rooms.RemoveMemberAsync("lobby", "bar_user", CancellationToken.None), Is.False);
        await CloseAsync(store);

        store = await OpenAsync();
        rooms = store;
        Assert.That(await rooms.ExistsAsync("lobby", CancellationToken.None), Is.True);
        Assert.That(await rooms.ExistsAsync("nowhere", CancellationToken.None), Is.False);
        Assert.That(await rooms.ListAsync(CancellationToken.None), Is.EqualTo(new[] { "default", "lobby" }));
        Assert.That(await rooms.MembersAsync("lobby", CancellationToken.None), Is.EqualTo(new[] { "foo_user" }));
        Assert.That(await rooms.RoomsOfAsync("foo_user", CancellationToken.None), Is.EqualTo(new[] { "default", "lobby" }));
        Assert.That(await rooms.RoomsOfAsync("bar_user", CancellationToken.None), Is.Empty);
    }

    [Test]
    public async Task Room_numbering_carries_on_after_a_reopen()
    {
        var store = await OpenAsync();
        await ((IRoomStore)store).TryCreateAsync("a", CancellationToken.None);
        Assert.That(await store.AppendRoomMessagesAsync("a", [Record("a", 1), Record("a", 2)], CancellationToken.None), Is.EqualTo(1));
        await CloseAsync(store);

        store = await OpenAsync();
        Assert.That(await store.AppendRoomMessagesAsync("a", [Record("a", 3)], CancellationToken.None), Is.EqualTo(3));
        var all = await store.RoomHistoryAsync("a", new HistoryQuery(null, null, 50), CancellationToken.None);
        Assert.That(all.Select(m => (m.Id, m.Text)), Is.EqualTo(new[] { (1L, "a message 1"), (2L, "a message 2"), (3L, "a message 3") }));
    }

    [TestCase(null, null)]
    [TestCase(100L, null)]
    [TestCase(null, 100L)]
    public async Task History_reads_search_an_index_and_never_sort(long? before, long? after)
    {
        var store = await OpenAsync();
        var query = new HistoryQuery(before, after, 50);
        var room = await store.ExplainHistoryAsync(query, privateConversation: false, CancellationToken.None);
        var conversation = await store.ExplainHistoryAsync(query, privateConversation: true, CancellationToken.None);
        Assert.That(room, Does.Contain("SEARCH room_messages USING INDEX sqlite_autoindex_room_messages_1 (room_id=? AND seq"), room);
        Assert.That(conversation, Does.Contain("SEARCH private_messages USING INDEX private_messages_by_pair"), conversation);
        Assert.That(room + conversation, Does.Not.Contain("TEMP B-TREE").And.Not.Contain("SCAN"));
    }

    [Test]
    public async Task Concurrent_appends_are_group_committed_and_all_land_with_their_ids()
    {
        const int rooms = 16;
        const int batchesPerRoom = 40;
        const int privateSenders = 16;
        const int privatePerSender = 40;
        var store = await OpenAsync();
        for (var r = 0; r < rooms; r++)
        {
            await ((IRoomStore)store).TryCreateAsync($"room{r}", CancellationToken.None);
        }

        var before = store.CommittedTransactions;

        // Each room appends its batches in order, as a RoomProcess does; all rooms and senders run at once.
        var roomWriters = Enumerable.Range(0, rooms).Select(r => Task.Run(async () =>
        {
            long next = 1;
            for (var b = 0; b < batchesPerRoom; b++)
            {
                var size = 1 + (b % 4);
                Assert.That(await store.AppendRoomMessagesAsync($"room{r}", [.. Enumerable.Range(0, size).Select(i => Record($"room{r}", next + i))], CancellationToken.None), Is.EqualTo(next));
                next += size;
            }

            return next - 1;
        })).ToArray();
        var privateWriters = Enumerable.Range(0, privateSenders).Select(s => Task.Run(async () =>
        {
            var ids = new List<long>();
            for (var i = 0; i < privatePerSender; i++)
            {
                ids.Add(await store.AppendPrivateMessageAsync($"user{s}", "hub", $"{s}:{i}", T0, CancellationToken.None));
            }

            return ids;
        })).ToArray();

        var lastIds = await Task.WhenAll(roomWriters).WaitAsync(TimeSpan.FromSeconds(30));
        var privateIds = (await Task.WhenAll(privateWriters).WaitAsync(TimeSpan.FromSeconds(30))).ToList();

        var writes = rooms * batchesPerRoom + privateSenders * privatePerSender;
        var transactions = store.CommittedTransactions - before;
        Assert.That(transactions, Is.LessThan(writes), "concurrent writes should share transactions");

        for (var r = 0; r < rooms; r++)
        {
            var stored = await store.RoomHistoryAsync($"room{r}", new HistoryQuery(null, 0, 200), CancellationToken.None);
            Assert.That(stored.Select(m => (m.Id, m.Text)), Is.EqualTo(Enumerable.Range(1, (int)lastIds[r]).Select(i => ((long)i, $"room{r} message {i}"))));
            Assert.That(await store.LastRoomIdAsync($"room{r}", CancellationToken.None), Is.EqualTo(lastIds[r]));
        }

        var allPrivate = privateIds.SelectMany(ids => ids).ToList();
        Assert.That(allPrivate, Is.Unique);
        Assert.That(privateIds, Has.All.Matches<List<long>>(ids => ids.SequenceEqual(ids.Order())), "a sender's ids increase");
        for (var s = 0; s < privateSenders; s++)
        {
            var conversation = await store.PrivateHistoryAsync($"user{s}", "hub", new HistoryQuery(null, 0, 200), CancellationToken.None);
            Assert.That(conversation.Select(m => m.Id), Is.EqualTo(privateIds[s]));
            Assert.That(conversation.Select(m => m.Text), Is.EqualTo(Enumerable.Range(0, privatePerSender).Select(i => $"{s}:{i}")));
        }
    }

    [Test]
    public async Task Batches_of_one_room_committed_in_one_group_are_numbered_one_after_the_other()
    {
        var store = await OpenAsync();
        await ((IRoomStore)store).TryCreateAsync("a", CancellationToken.None);
        var before = store.CommittedTransactions;

        // Queued without waiting, as appenders on several nodes would: the writer groups them.
        var appends = Enumerable.Range(0, 50).Select(b => store.AppendRoomMessagesAsync("a", [Record("a", b), Record("a", b)], CancellationToken.None).AsTask()).ToList();
        var firsts = await Task.WhenAll(appends).WaitAsync(TimeSpan.FromSeconds(10));

        Assert.That(store.CommittedTransactions - before, Is.LessThan(50), "some batches shared a transaction");
        Assert.That(firsts.Order(), Is.EqualTo(Enumerable.Range(0, 50).Select(b => 1L + (2 * b))), "every batch two consecutive ids, none shared");
        var stored = await store.RoomHistoryAsync("a", new HistoryQuery(null, 0, 200), CancellationToken.None);
        Assert.That(stored.Select(m => m.Id), Is.EqualTo(Enumerable.Range(1, 100).Select(i => (long)i)));
        Assert.That(await store.LastRoomIdAsync("a", CancellationToken.None), Is.EqualTo(100));
    }

    [Test]
    public async Task A_batch_of_any_size_stores_every_text_exactly_and_every_message_is_found_by_search()
    {
        var store = await OpenAsync();
        await ((IRoomStore)store).TryCreateAsync("a", CancellationToken.None);

        // 70 = two multi-row inserts of 32 and six single rows; texts beyond ASCII and longer than any buffer kept.
        var texts = Enumerable.Range(0, 70).Select(i => i switch
        {
            3 => "crème brûlée für alle 🍮 ünïcödé",
            40 => "long " + new string('é', 3000) + " tail",
            69 => "",
            _ => $"plain number{i}",
        }).ToList();
        var batch = texts.Select((text, i) => new NewRoomMessage($"user{i % 7}", text, T0.AddMilliseconds(i))).ToList();
        Assert.That(await store.AppendRoomMessagesAsync("a", batch, CancellationToken.None), Is.EqualTo(1));

        var stored = await store.RoomHistoryAsync("a", new HistoryQuery(null, 0, 100), CancellationToken.None);
        Assert.That(stored.Select(m => (m.Id, m.From, m.Text, m.Timestamp)), Is.EqualTo(batch.Select((m, i) => (i + 1L, m.From, m.Text, m.Timestamp))));
        var hits = await store.SearchRoomsAsync(["a"], SearchQuery.Parse("brûlée").Value!, long.MaxValue, 10, CancellationToken.None);
        Assert.That(hits.Select(h => h.Message.Id), Is.EqualTo(new[] { 4L }));
        var last = await store.SearchRoomsAsync(["a"], SearchQuery.Parse("number68").Value!, long.MaxValue, 10, CancellationToken.None);
        Assert.That(last.Select(h => h.Message.Id), Is.EqualTo(new[] { 69L }));
    }

    [Test]
    public async Task A_bad_write_in_a_group_fails_alone_and_its_neighbours_commit()
    {
        var store = await OpenAsync();
        await ((IRoomStore)store).TryCreateAsync("a", CancellationToken.None);
        await store.AppendRoomMessagesAsync("a", [Record("a", 1)], CancellationToken.None);

        // Queued together: the bad write must not take the private messages or the good batch down with it,
        // and the good batch is numbered in its own transaction when the group is retried write by write.
        var good = Enumerable.Range(0, 20).Select(i => store.AppendPrivateMessageAsync("x", "y", $"m{i}", T0, CancellationToken.None).AsTask()).ToList();
        var bad = store.AppendRoomMessagesAsync("nowhere", [Record("nowhere", 1)], CancellationToken.None).AsTask();
        var next = store.AppendRoomMessagesAsync("a", [Record("a", 2)], CancellationToken.None).AsTask();
        Assert.ThrowsAsync<InvalidOperationException>(async () => await bad);
        await Task.WhenAll(good).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(await next.WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(2));

        Assert.That((await store.RoomHistoryAsync("a", new HistoryQuery(null, null, 50), CancellationToken.None)).Select(m => m.Id), Is.EqualTo(new long[] { 1, 2 }));
        Assert.That(await store.PrivateHistoryAsync("x", "y", new HistoryQuery(null, null, 50), CancellationToken.None), Has.Count.EqualTo(20));
    }

    [Test]
    public async Task A_write_whose_caller_gave_up_before_the_writer_reached_it_is_skipped()
    {
        var store = await OpenAsync();
        using var gaveUp = new CancellationTokenSource();
        await gaveUp.CancelAsync();

        Assert.CatchAsync<OperationCanceledException>(async () => await store.AppendPrivateMessageAsync("x", "y", "never", T0, gaveUp.Token));
        var kept = await store.AppendPrivateMessageAsync("x", "y", "kept", T0, CancellationToken.None);
        var conversation = await store.PrivateHistoryAsync("x", "y", new HistoryQuery(null, null, 50), CancellationToken.None);
        Assert.That(conversation.Select(m => (m.Id, m.Text)), Is.EqualTo(new[] { (kept, "kept") }));
    }

    [Test]
    public async Task Closing_commits_every_write_already_queued()
    {
        var store = await OpenAsync();
        var writes = Enumerable.Range(0, 500).Select(i => store.AppendPrivateMessageAsync("x", "y", $"m{i}", T0, CancellationToken.None).AsTask()).ToList();
        await CloseAsync(store);
        var ids = await Task.WhenAll(writes).WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(ids, Is.Unique);

        store = await OpenAsync();
        Assert.That(await store.PrivateHistoryAsync("x", "y", new HistoryQuery(null, 0, 200), CancellationToken.None), Has.Count.EqualTo(200));
        Assert.That(await store.PrivateHistoryAsync("x", "y", new HistoryQuery(null, ids.Max() - 1, 200), CancellationToken.None), Has.Count.EqualTo(1));
        Assert.ThrowsAsync<ObjectDisposedException>(async () => await NewClosedStoreWriteAsync());
    }

    private async Task NewClosedStoreWriteAsync()
    {
        var other = Path.Combine(directory, "other", SqliteStoreSettings.FileName);
        var store = new SqliteStore(new SqliteStoreSettings(other, SqliteSynchronous.Normal, RetentionPolicy.Unlimited), TimeProvider.System, NullLogger<SqliteStore>.Instance);
        await store.OpenAsync(CancellationToken.None);
        await store.CloseAsync(CancellationToken.None);
        await store.AppendPrivateMessageAsync("x", "y", "too late", T0, CancellationToken.None);
    }

    [Test]
    public async Task Pruning_keeps_the_newest_messages_per_room_and_sequence_numbers_never_go_back()
    {
        var store = await OpenAsync(new RetentionPolicy(MaxMessagesPerRoom: 5, MaxAge: TimeSpan.Zero));
        IRoomStore rooms = store;
        await rooms.TryCreateAsync("busy", CancellationToken.None);
        await rooms.TryCreateAsync("quiet", CancellationToken.None);
        await store.AppendRoomMessagesAsync("busy", [.. Enumerable.Range(1, 12).Select(i => Record("busy", i))], CancellationToken.None);
        await store.AppendRoomMessagesAsync("quiet", [.. Enumerable.Range(1, 3).Select(i => Record("quiet", i))], CancellationToken.None);

        Assert.That(await store.PruneAsync(DateTimeOffset.UtcNow, CancellationToken.None), Is.EqualTo(7));
        Assert.That(await store.PruneAsync(DateTimeOffset.UtcNow, CancellationToken.None), Is.Zero);
        var busy = await store.RoomHistoryAsync("busy", new HistoryQuery(null, 0, 50), CancellationToken.None);
        Assert.That(busy.Select(m => m.Id), Is.EqualTo(new long[] { 8, 9, 10, 11, 12 }));
        Assert.That((await store.RoomHistoryAsync("quiet", new HistoryQuery(null, 0, 50), CancellationToken.None)).Count, Is.EqualTo(3));
        await CloseAsync(store);

        store = await OpenAsync(new RetentionPolicy(MaxMessagesPerRoom: 5, MaxAge: TimeSpan.Zero));
        Assert.That(await store.LastRoomIdAsync("busy", CancellationToken.None), Is.EqualTo(12));
    }

    [Test]
    public async Task Pruning_by_age_removes_old_room_and_private_messages_even_the_newest_id()
    {
        var store = await OpenAsync(new RetentionPolicy(MaxMessagesPerRoom: 0, MaxAge: TimeSpan.FromDays(30)));
        await ((IRoomStore)store).TryCreateAsync("a", CancellationToken.None);
        var now = T0.AddDays(100);
        await store.AppendRoomMessagesAsync("a", [.. Enumerable.Range(1, 4).Select(i => Record("a", i, at: T0))], CancellationToken.None);
        await store.AppendRoomMessagesAsync("a", [Record("a", 5, at: now.AddDays(-1)), Record("a", 6, at: now)], CancellationToken.None);
        var oldPrivate = await store.AppendPrivateMessageAsync("x", "y", "old", T0, CancellationToken.None);
        var newPrivate = await store.AppendPrivateMessageAsync("x", "y", "new", now, CancellationToken.None);

        Assert.That(await store.PruneAsync(now, CancellationToken.None), Is.EqualTo(5));
        Assert.That((await store.RoomHistoryAsync("a", new HistoryQuery(null, 0, 50), CancellationToken.None)).Select(m => m.Id), Is.EqualTo(new long[] { 5, 6 }));
        Assert.That((await store.PrivateHistoryAsync("x", "y", new HistoryQuery(null, 0, 50), CancellationToken.None)).Select(m => m.Id), Is.EqualTo(new[] { newPrivate }));

        // Everything ages out; ids still never repeat.
        Assert.That(await store.PruneAsync(now.AddDays(60), CancellationToken.None), Is.EqualTo(3));
        Assert.That(await store.LastRoomIdAsync("a", CancellationToken.None), Is.EqualTo(6));
        Assert.That(await store.AppendRoomMessagesAsync("a", [Record("a", 7, at: now.AddDays(60))], CancellationToken.None), Is.EqualTo(7), "an emptied room numbers on");
        var next = await store.AppendPrivateMessageAsync("x", "y", "later", now.AddDays(60), CancellationToken.None);
        Assert.That(next, Is.GreaterThan(newPrivate).And.GreaterThan(oldPrivate));
    }

    [Test]
    public async Task Pruning_many_rows_runs_in_bounded_transactions()
    {
        var store = await OpenAsync(new RetentionPolicy(MaxMessagesPerRoom: 10, MaxAge: TimeSpan.Zero));
        await ((IRoomStore)store).TryCreateAsync("a", CancellationToken.None);
        long id = 1;
        for (var batch = 0; batch < 10; batch++)
        {
            await store.AppendRoomMessagesAsync("a", [.. Enumerable.Range(0, 500).Select(_ => Record("a", id++))], CancellationToken.None);
        }

        var before = store.CommittedTransactions;
        Assert.That(await store.PruneAsync(DateTimeOffset.UtcNow, CancellationToken.None), Is.EqualTo(4990));
        Assert.That(store.CommittedTransactions - before, Is.GreaterThanOrEqualTo(3), "4990 rows in transactions of at most 2000");
        Assert.That((await store.RoomHistoryAsync("a", new HistoryQuery(null, null, 50), CancellationToken.None)).Select(m => m.Id), Is.EqualTo(Enumerable.Range(4991, 10).Select(i => (long)i)));
    }

    [Test]
    public async Task The_retention_loop_prunes_as_soon_as_it_starts_and_stops_when_cancelled()
    {
        var store = await OpenAsync(new RetentionPolicy(MaxMessagesPerRoom: 2, MaxAge: TimeSpan.Zero));
        await ((IRoomStore)store).TryCreateAsync("a", CancellationToken.None);
        await store.AppendRoomMessagesAsync("a", [.. Enumerable.Range(1, 6).Select(i => Record("a", i))], CancellationToken.None);

        using var stop = new CancellationTokenSource();
        var loop = new RetentionLoop(store, TimeSpan.FromHours(1), TimeProvider.System, NullLogger<RetentionLoop>.Instance);
        var running = loop.RunAsync(stop.Token);

        // The loop queued its first prune before RunAsync returned; the writer is FIFO, so once a later write
        // has committed, that prune has too.
        await store.AppendPrivateMessageAsync("x", "y", "barrier", T0, CancellationToken.None);
        var kept = await store.RoomHistoryAsync("a", new HistoryQuery(null, 0, 50), CancellationToken.None);
        Assert.That(kept.Select(m => m.Id), Is.EqualTo(new long[] { 5, 6 }));

        await stop.CancelAsync();
        Assert.CatchAsync<OperationCanceledException>(() => running.WaitAsync(TimeSpan.FromSeconds(10)));
    }

    [Test]
    public async Task Pruning_with_no_limits_deletes_nothing()
    {
        var store = await OpenAsync();
        await ((IRoomStore)store).TryCreateAsync("a", CancellationToken.None);
        await store.AppendRoomMessagesAsync("a", [Record("a", 1, at: T0.AddYears(-10))], CancellationToken.None);
        Assert.That(await store.PruneAsync(DateTimeOffset.UtcNow, CancellationToken.None), Is.Zero);
        Assert.That(await store.RoomHistoryAsync("a", new HistoryQuery(null, null, 50), CancellationToken.None), Has.Count.EqualTo(1));
    }
}
