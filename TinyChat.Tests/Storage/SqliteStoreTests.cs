using System.Text;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using TinyChat.Chat;
using TinyChat.Storage;

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

    private static RoomMessageRecord Record(string room, long id, string from = "foo_user", DateTimeOffset? at = null) =>
        new(room, id, from, $"{room} message {id}", at ?? T0.AddSeconds(id));

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
    public async Task Room_history_pages_both_ways_oldest_first_and_keeps_rooms_apart()
    {
        var store = await OpenAsync();
        IRoomStore rooms = store;
        await rooms.TryCreateAsync("a", CancellationToken.None);
        await rooms.TryCreateAsync("b", CancellationToken.None);
        await store.AppendRoomMessagesAsync([.. Enumerable.Range(1, 6).Select(i => Record("a", i))], CancellationToken.None);
        await store.AppendRoomMessagesAsync([Record("b", 1), Record("b", 2)], CancellationToken.None);
        await store.AppendRoomMessagesAsync([.. Enumerable.Range(7, 4).Select(i => Record("a", i))], CancellationToken.None);

        async Task<long[]> Ids(string room, long? before, long? after, int limit) =>
            [.. (await store.RoomHistoryAsync(room, new HistoryQuery(before, after, limit), CancellationToken.None)).Select(m => m.Id)];

        Assert.That(await Ids("a", null, null, 3), Is.EqualTo(new long[] { 8, 9, 10 }));
        Assert.That(await Ids("a", 8, null, 3), Is.EqualTo(new long[] { 5, 6, 7 }));
        Assert.That(await Ids("a", 3, null, 50), Is.EqualTo(new long[] { 1, 2 }));
        Assert.That(await Ids("a", 1, null, 50), Is.Empty);
        Assert.That(await Ids("a", null, 2, 3), Is.EqualTo(new long[] { 3, 4, 5 }));
        Assert.That(await Ids("a", null, 0, 50), Is.EqualTo(Enumerable.Range(1, 10).Select(i => (long)i)));
        Assert.That(await Ids("a", null, 10, 50), Is.Empty);
        Assert.That(await Ids("b", null, null, 50), Is.EqualTo(new long[] { 1, 2 }));
        Assert.That(await Ids("nowhere", null, null, 50), Is.Empty);

        var message = (await store.RoomHistoryAsync("a", new HistoryQuery(null, 4, 1), CancellationToken.None)).Single();
        Assert.That(message.Room, Is.EqualTo("a"));
        Assert.That(message.From, Is.EqualTo("foo_user"));
        Assert.That(message.Text, Is.EqualTo("a message 5"));
        Assert.That(message.Timestamp, Is.EqualTo(T0.AddSeconds(5)));
        Assert.That(await store.LastRoomIdAsync("a", CancellationToken.None), Is.EqualTo(10));
        Assert.That(await store.LastRoomIdAsync("b", CancellationToken.None), Is.EqualTo(2));
        Assert.That(await store.LastRoomIdAsync("nowhere", CancellationToken.None), Is.EqualTo(0));
    }

    [TestCase(1)]
    [TestCase(32)]
    [TestCase(70)]
    [TestCase(512)]
    public async Task A_batch_of_any_size_is_stored_whole_and_in_order(int size)
    {
        var store = await OpenAsync();
        await ((IRoomStore)store).TryCreateAsync("a", CancellationToken.None);
        await store.AppendRoomMessagesAsync([.. Enumerable.Range(1, size).Select(i => Record("a", i))], CancellationToken.None);

        var stored = new List<RoomMessage>();
        for (long after = 0; stored.Count < size;)
        {
            var page = await store.RoomHistoryAsync("a", new HistoryQuery(null, after, 200), CancellationToken.None);
            Assert.That(page, Is.Not.Empty);
            stored.AddRange(page);
            after = page[^1].Id;
        }

        Assert.That(stored.Select(m => m.Id), Is.EqualTo(Enumerable.Range(1, size).Select(i => (long)i)));
        Assert.That(stored.Select(m => m.Text), Is.EqualTo(Enumerable.Range(1, size).Select(i => $"a message {i}")));
        Assert.That(stored.Select(m => m.Timestamp), Is.EqualTo(Enumerable.Range(1, size).Select(i => T0.AddSeconds(i))));
        Assert.That(await store.LastRoomIdAsync("a", CancellationToken.None), Is.EqualTo(size));
    }

    [Test]
    public async Task A_sequence_number_stored_twice_is_refused()
    {
        var store = await OpenAsync();
        await ((IRoomStore)store).TryCreateAsync("a", CancellationToken.None);
        await store.AppendRoomMessagesAsync([Record("a", 1), Record("a", 2)], CancellationToken.None);
        Assert.ThrowsAsync<SqliteException>(async () => await store.AppendRoomMessagesAsync([Record("a", 3), Record("a", 2)], CancellationToken.None));

        // The failed batch left nothing behind, not even its first message.
        var all = await store.RoomHistoryAsync("a", new HistoryQuery(null, null, 50), CancellationToken.None);
        Assert.That(all.Select(m => m.Id), Is.EqualTo(new long[] { 1, 2 }));
        Assert.That(await store.LastRoomIdAsync("a", CancellationToken.None), Is.EqualTo(2));
    }

    [Test]
    public async Task Private_history_holds_exactly_the_two_users_conversation_both_ways()
    {
        var store = await OpenAsync();
        var ab1 = await store.AppendPrivateMessageAsync("alice", "bob", "hi bob", T0, CancellationToken.None);
        var ac = await store.AppendPrivateMessageAsync("alice", "carol", "hi carol", T0, CancellationToken.None);
        var ba = await store.AppendPrivateMessageAsync("bob", "alice", "hi alice", T0.AddSeconds(1), CancellationToken.None);
        var cb = await store.AppendPrivateMessageAsync("carol", "bob", "psst bob", T0, CancellationToken.None);
        var ab2 = await store.AppendPrivateMessageAsync("alice", "bob", "again", T0.AddSeconds(2), CancellationToken.None);
        Assert.That(new[] { ab1, ac, ba, cb, ab2 }, Is.Ordered.Ascending);
        Assert.That(new[] { ab1, ac, ba, cb, ab2 }, Is.Unique);

        var aliceBob = await store.PrivateHistoryAsync("alice", "bob", new HistoryQuery(null, null, 50), CancellationToken.None);
        Assert.That(aliceBob.Select(m => m.Id), Is.EqualTo(new[] { ab1, ba, ab2 }));
        Assert.That(aliceBob.Select(m => (m.From, m.To, m.Text)), Is.EqualTo(new[] { ("alice", "bob", "hi bob"), ("bob", "alice", "hi alice"), ("alice", "bob", "again") }));
        var bobAlice = await store.PrivateHistoryAsync("bob", "alice", new HistoryQuery(null, null, 50), CancellationToken.None);
        Assert.That(bobAlice.Select(m => m.Id), Is.EqualTo(new[] { ab1, ba, ab2 }));
        Assert.That(bobAlice[1].Timestamp, Is.EqualTo(T0.AddSeconds(1)));

        Assert.That((await store.PrivateHistoryAsync("alice", "bob", new HistoryQuery(ab2, null, 1), CancellationToken.None)).Select(m => m.Id), Is.EqualTo(new[] { ba }));
        Assert.That((await store.PrivateHistoryAsync("alice", "bob", new HistoryQuery(null, ab1, 1), CancellationToken.None)).Select(m => m.Id), Is.EqualTo(new[] { ba }));
        Assert.That((await store.PrivateHistoryAsync("bob", "carol", new HistoryQuery(null, null, 50), CancellationToken.None)).Select(m => m.Id), Is.EqualTo(new[] { cb }));
        Assert.That(await store.PrivateHistoryAsync("carol", "dave", new HistoryQuery(null, null, 50), CancellationToken.None), Is.Empty);
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
                await store.AppendRoomMessagesAsync([.. Enumerable.Range(0, size).Select(_ => Record($"room{r}", next++))], CancellationToken.None);
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
            Assert.That(stored.Select(m => m.Id), Is.EqualTo(Enumerable.Range(1, (int)lastIds[r]).Select(i => (long)i)));
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
    public async Task A_bad_write_in_a_group_fails_alone_and_its_neighbours_commit()
    {
        var store = await OpenAsync();
        await ((IRoomStore)store).TryCreateAsync("a", CancellationToken.None);
        await store.AppendRoomMessagesAsync([Record("a", 1)], CancellationToken.None);

        // Queued together: the duplicate must not take the private messages or the good batch down with it.
        var good = Enumerable.Range(0, 20).Select(i => store.AppendPrivateMessageAsync("x", "y", $"m{i}", T0, CancellationToken.None).AsTask()).ToList();
        var duplicate = store.AppendRoomMessagesAsync([Record("a", 1)], CancellationToken.None).AsTask();
        var next = store.AppendRoomMessagesAsync([Record("a", 2)], CancellationToken.None).AsTask();
        Assert.ThrowsAsync<SqliteException>(async () => await duplicate);
        await Task.WhenAll(good).WaitAsync(TimeSpan.FromSeconds(10));
        await next.WaitAsync(TimeSpan.FromSeconds(10));

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
        await store.AppendRoomMessagesAsync([.. Enumerable.Range(1, 12).Select(i => Record("busy", i))], CancellationToken.None);
        await store.AppendRoomMessagesAsync([.. Enumerable.Range(1, 3).Select(i => Record("quiet", i))], CancellationToken.None);

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
        await store.AppendRoomMessagesAsync([.. Enumerable.Range(1, 4).Select(i => Record("a", i, at: T0))], CancellationToken.None);
        await store.AppendRoomMessagesAsync([Record("a", 5, at: now.AddDays(-1)), Record("a", 6, at: now)], CancellationToken.None);
        var oldPrivate = await store.AppendPrivateMessageAsync("x", "y", "old", T0, CancellationToken.None);
        var newPrivate = await store.AppendPrivateMessageAsync("x", "y", "new", now, CancellationToken.None);

        Assert.That(await store.PruneAsync(now, CancellationToken.None), Is.EqualTo(5));
        Assert.That((await store.RoomHistoryAsync("a", new HistoryQuery(null, 0, 50), CancellationToken.None)).Select(m => m.Id), Is.EqualTo(new long[] { 5, 6 }));
        Assert.That((await store.PrivateHistoryAsync("x", "y", new HistoryQuery(null, 0, 50), CancellationToken.None)).Select(m => m.Id), Is.EqualTo(new[] { newPrivate }));

        // Everything ages out; ids still never repeat.
        Assert.That(await store.PruneAsync(now.AddDays(60), CancellationToken.None), Is.EqualTo(3));
        Assert.That(await store.LastRoomIdAsync("a", CancellationToken.None), Is.EqualTo(6));
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
            await store.AppendRoomMessagesAsync([.. Enumerable.Range(0, 500).Select(_ => Record("a", id++))], CancellationToken.None);
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
        await store.AppendRoomMessagesAsync([.. Enumerable.Range(1, 6).Select(i => Record("a", i))], CancellationToken.None);

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
        await store.AppendRoomMessagesAsync([Record("a", 1, at: T0.AddYears(-10))], CancellationToken.None);
        Assert.That(await store.PruneAsync(DateTimeOffset.UtcNow, CancellationToken.None), Is.Zero);
        Assert.That(await store.RoomHistoryAsync("a", new HistoryQuery(null, null, 50), CancellationToken.None), Has.Count.EqualTo(1));
    }
}
