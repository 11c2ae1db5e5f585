using TinyChat.Chat;

namespace TinyChat.Tests.Contracts;

/// <summary>
/// What every store promises the chat core, whatever it is built on. Each implementation runs this suite
/// through a small subclass that opens a fresh, empty store per test.
/// </summary>
[TestFixture]
public abstract class StoreContract
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 10, 15, 30, 125, TimeSpan.Zero);
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    /// <summary>The store under test; one object serves all three interfaces in every implementation so far.</summary>
    protected sealed record Stores(IAccountStore Accounts, IRoomStore Rooms, IMessageStore Messages);

    private Stores stores = null!;

    private IAccountStore Accounts => stores.Accounts;

    private IRoomStore Rooms => stores.Rooms;

    private IMessageStore Messages => stores.Messages;

    /// <summary>Opens a fresh, empty store.</summary>
    protected abstract Task<Stores> OpenAsync();

    /// <summary>Closes what <see cref="OpenAsync"/> opened and removes what it left behind.</summary>
    protected abstract Task CloseAsync();

    /// <summary>
    /// A second store on the same data, as another node would open it (closed by <see cref="CloseAsync"/>).
    /// Providers that allow one store per data set (a SQLite file is locked by its process) return the first.
    /// </summary>
    protected virtual Task<Stores> OpenSecondAsync() => Task.FromResult(stores);

    [SetUp]
    public async Task OpenStore() => stores = await OpenAsync();

    [TearDown]
    public Task CloseStore() => CloseAsync();

    private static NewRoomMessage Message(string text, DateTimeOffset? at = null, string from = "foo_user") => new(from, text, at ?? T0);

    private async Task<long[]> RoomIdsAsync(string room, long? before, long? after, int limit) =>
        [.. (await Messages.RoomHistoryAsync(room, new HistoryQuery(before, after, limit), None)).Select(m => m.Id)];

    private async Task<List<RoomMessage>> WholeRoomAsync(string room)
    {
        var all = new List<RoomMessage>();
        for (var after = 0L; ;)
        {
            var page = await Messages.RoomHistoryAsync(room, new HistoryQuery(null, after, 200), None);
            if (page.Count == 0)
            {
                return all;
            }

            all.AddRange(page);
            after = page[^1].Id;
        }
    }

    [Test]
    public async Task Accounts_are_created_once_found_by_token_and_upserted_by_seeding()
    {
        Assert.That(await Accounts.TryCreateAsync("alice", "alice-token", None), Is.True);
        Assert.That(await Accounts.TryCreateAsync("alice", "another token", None), Is.False);
        await Accounts.UpsertAsync("seed", "old seed token", None);
        await Accounts.UpsertAsync("seed", "new seed token", None);

        Assert.That(await Accounts.AuthenticateAsync("alice-token", None), Is.EqualTo("alice"));
        Assert.That(await Accounts.AuthenticateAsync("another token", None), Is.Null);
        Assert.That(await Accounts.AuthenticateAsync("new seed token", None), Is.EqualTo("seed"));
        Assert.That(await Accounts.AuthenticateAsync("old seed token", None), Is.Null, "upsert replaces the token");
        Assert.That(await Accounts.AuthenticateAsync("", None), Is.Null);
        Assert.That(await Accounts.ExistsAsync("alice", None), Is.True);
        Assert.That(await Accounts.ExistsAsync("bob", None), Is.False);
    }

    [Test]
    public async Task Rooms_are_created_once_and_listed_sorted()
    {
        Assert.That(await Rooms.TryCreateAsync("lobby", None), Is.True);
        Assert.That(await Rooms.TryCreateAsync("lobby", None), Is.False);
        Assert.That(await Rooms.TryCreateAsync("default", None), Is.True);

        Assert.That(await Rooms.ExistsAsync("lobby", None), Is.True);
        Assert.That(await Rooms.ExistsAsync("nowhere", None), Is.False);
        Assert.That(await Rooms.ListAsync(None), Is.EqualTo(new[] { "default", "lobby" }));
    }

    [Test]
    public async Task A_users_owned_rooms_are_counted_and_rooms_without_owner_count_for_nobody()
    {
        Assert.That(await Rooms.CountOwnedAsync("alice", None), Is.Zero);
        await Rooms.TryCreateAsync("den", "alice", true, None);
        await Rooms.TryCreateAsync("ops", "alice", false, None);
        await Rooms.TryCreateAsync("ops", "bob", false, None);
        await Rooms.TryCreateAsync("lobby", None);

        Assert.That(await Rooms.CountOwnedAsync("alice", None), Is.EqualTo(2));
        Assert.That(await Rooms.CountOwnedAsync("bob", None), Is.Zero, "creating a room that exists takes nothing");
        Assert.That(await Rooms.CountOwnedAsync("Alice", None), Is.Zero, "names are exact");
    }

    [Test]
    public async Task Memberships_are_recorded_once_removed_once_and_read_from_both_sides()
    {
        await Rooms.TryCreateAsync("lobby", None);
        await Rooms.TryCreateAsync("default", None);
        Assert.That(await Rooms.AddMemberAsync("lobby", "foo_user", None), Is.True);
        Assert.That(await Rooms.AddMemberAsync("lobby", "foo_user", None), Is.False);
        Assert.That(await Rooms.AddMemberAsync("lobby", "bar_user", None), Is.True);
        Assert.That(await Rooms.AddMemberAsync("default", "foo_user", None), Is.True);
        Assert.That(await Rooms.AddMemberAsync("nowhere", "foo_user", None), Is.False, "no membership of a missing room");
        Assert.That(await Rooms.RemoveMemberAsync("lobby", "bar_user", None), Is.True);
        Assert.That(await Rooms.RemoveMemberAsync("lobby", "bar_user", None), Is.False);

        Assert.That(await Rooms.MembersAsync("lobby", None), Is.EquivalentTo(new[] { "foo_user" }));
        Assert.That(await Rooms.MembersAsync("nowhere", None), Is.Empty);
        Assert.That(await Rooms.RoomsOfAsync("foo_user", None), Is.EqualTo(new[] { "default", "lobby" }));
        Assert.That(await Rooms.RoomsOfAsync("bar_user", None), Is.Empty);
    }

    [Test]
    public async Task A_crowd_joining_one_room_is_recorded_in_one_call_each_saying_whether_it_was_new_and_starting_at_the_newest_message()
    {
        await Rooms.TryCreateAsync("lobby", None);
        await Messages.AppendRoomMessagesAsync("lobby", [Message("one"), Message("two")], None);
        Assert.That(await Rooms.AddMemberAsync("lobby", "bar_user", None), Is.True);

        Assert.That(await Rooms.AddMembersAsync("lobby", ["foo_user", "bar_user", "baz_user"], None), Is.EqualTo(new[] { true, false, true }));
        Assert.That(await Rooms.MembersAsync("lobby", None), Is.EquivalentTo(new[] { "bar_user", "baz_user", "foo_user" }));
        Assert.That(await Rooms.RoomsOfAsync("baz_user", None), Is.EqualTo(new[] { "lobby" }));
        Assert.That((await Reading.RoomReadStatesAsync("baz_user", ["lobby"], None)).Single(), Is.EqualTo(new RoomReadState("lobby", 2, 0, 0)), "what came before the join is not unread");
        Assert.That(await Rooms.AddMembersAsync("nowhere", ["foo_user"], None), Is.EqualTo(new[] { false }), "no membership of a missing room");
        Assert.That(await Rooms.AddMembersAsync("lobby", [], None), Is.Empty);
    }

    [Test]
    public async Task Appending_numbers_each_room_from_one_without_gaps_and_returns_the_first_number()
    {
        await Rooms.TryCreateAsync("a", None);
        await Rooms.TryCreateAsync("b", None);
        Assert.That(await Messages.LastRoomIdAsync("a", None), Is.Zero);

        Assert.That(await Messages.AppendRoomMessagesAsync("a", [Message("a1"), Message("a2"), Message("a3")], None), Is.EqualTo(1));
        Assert.That(await Messages.AppendRoomMessagesAsync("b", [Message("b1")], None), Is.EqualTo(1), "every room has its own sequence");
        Assert.That(await Messages.AppendRoomMessagesAsync("a", [Message("a4")], None), Is.EqualTo(4));
        Assert.That(await Messages.AppendRoomMessagesAsync("a", [Message("a5"), Message("a6")], None), Is.EqualTo(5));

        var a = await WholeRoomAsync("a");
        Assert.That(a.Select(m => (m.Id, m.Text)), Is.EqualTo(Enumerable.Range(1, 6).Select(i => ((long)i, $"a{i}"))));
        Assert.That((await WholeRoomAsync("b")).Select(m => (m.Id, m.Text)), Is.EqualTo(new[] { (1L, "b1") }));
        Assert.That(await Messages.LastRoomIdAsync("a", None), Is.EqualTo(6));
        Assert.That(await Messages.LastRoomIdAsync("b", None), Is.EqualTo(1));
        Assert.That(await Messages.LastRoomIdAsync("nowhere", None), Is.Zero);
    }

    [Test]
    public async Task A_stored_message_keeps_its_room_sender_text_and_time()
    {
        await Rooms.TryCreateAsync("a", None);
        var at = T0.AddSeconds(5);
        await Messages.AppendRoomMessagesAsync("a", [Message("héllo ✓ \"quoted\"\nline", at, from: "bar_user")], None);

        var stored = (await WholeRoomAsync("a")).Single();
        Assert.That((stored.Room, stored.From, stored.Text, stored.Id, stored.Timestamp), Is.EqualTo(("a", "bar_user", "héllo ✓ \"quoted\"\nline", 1L, at)));
    }

    [Test]
    public async Task Appending_to_a_missing_room_fails_and_numbers_nothing()
    {
        await Rooms.TryCreateAsync("a", None);
        Assert.CatchAsync<Exception>(async () => await Messages.AppendRoomMessagesAsync("nowhere", [Message("lost")], None));

        Assert.That(await Messages.RoomHistoryAsync("nowhere", new HistoryQuery(null, null, 50), None), Is.Empty);
        Assert.That(await Messages.LastRoomIdAsync("nowhere", None), Is.Zero);
        Assert.That(await Messages.AppendRoomMessagesAsync("a", [Message("fine")], None), Is.EqualTo(1));
    }

    [TestCase(1)]
    [TestCase(33)]
    [TestCase(512)]
    public async Task A_batch_of_any_size_is_stored_whole_and_in_order(int size)
    {
        await Rooms.TryCreateAsync("a", None);
        await Messages.AppendRoomMessagesAsync("a", [Message("before")], None);
        var first = await Messages.AppendRoomMessagesAsync("a", [.. Enumerable.Range(0, size).Select(i => Message($"m{i}", T0.AddSeconds(i)))], None);

        Assert.That(first, Is.EqualTo(2));
        var stored = (await WholeRoomAsync("a")).Skip(1).ToList();
        Assert.That(stored.Select(m => m.Id), Is.EqualTo(Enumerable.Range(2, size).Select(i => (long)i)));
        Assert.That(stored.Select(m => m.Text), Is.EqualTo(Enumerable.Range(0, size).Select(i => $"m{i}")));
        Assert.That(stored.Select(m => m.Timestamp), Is.EqualTo(Enumerable.Range(0, size).Select(i => T0.AddSeconds(i))));
        Assert.That(await Messages.LastRoomIdAsync("a", None), Is.EqualTo(size + 1));
    }

    [Test]
    public async Task Batches_queued_one_behind_the_other_commit_in_queue_order_beside_other_appenders()
    {
        // A room with two batches in flight (the second queued before the first commits), while another appender
        // (another node) shares the room.
        const int chained = 30;
        await Rooms.TryCreateAsync("shared", None);
        var other = Task.Run(async () =>
        {
            for (var i = 0; i < chained; i++)
            {
                await Messages.AppendRoomMessagesAsync("shared", [Message($"other {i}")], None);
            }
        });

        var queued = new List<(Task<long> Stored, string[] Texts)>();
        Task<long>? previous = null;
        for (var b = 0; b < chained; b++)
        {
            string[] texts = [.. Enumerable.Range(0, 1 + (b % 3)).Select(i => $"chain b{b} m{i}")];
            previous = await Messages.QueueRoomBatchAsync("shared", new RoomBatch(texts.Select(t => Message(t))), previous, None);
            queued.Add((previous, texts));
        }

        await other.WaitAsync(Timeout);
        var firsts = new List<long>();
        foreach (var batch in queued)
        {
            firsts.Add(await batch.Stored.WaitAsync(Timeout));
        }

        for (var b = 1; b < chained; b++)
        {
            Assert.That(firsts[b], Is.GreaterThanOrEqualTo(firsts[b - 1] + queued[b - 1].Texts.Length), $"batch {b} numbered after the batch it was queued behind");
        }

        var stored = (await WholeRoomAsync("shared")).ToDictionary(m => m.Id, m => m.Text);
        for (var b = 0; b < chained; b++)
        {
            var texts = queued[b].Texts;
            Assert.That(Enumerable.Range(0, texts.Length).Select(i => stored[firsts[b] + i]), Is.EqualTo(texts), $"batch {b} stored whole under the numbers it was told");
        }

        Assert.That(stored.Keys.Order(), Is.EqualTo(Enumerable.Range(1, stored.Count).Select(i => (long)i)), "no gap");
    }

    [Test]
    public async Task A_batch_queued_behind_one_that_fails_is_not_stored_and_fails_the_same_way()
    {
        await Rooms.TryCreateAsync("a", None);
        var failing = await Messages.QueueRoomBatchAsync("nowhere", new RoomBatch([Message("refused")]), null, None);
        var behind = await Messages.QueueRoomBatchAsync("a", new RoomBatch([Message("queued behind it")]), failing, None);

        var reason = Assert.CatchAsync<Exception>(async () => await failing.WaitAsync(Timeout));
        var refused = Assert.CatchAsync<Exception>(async () => await behind.WaitAsync(Timeout));
        Assert.That(refused, Is.SameAs(reason), "it fails as the batch before it did");
        Assert.That(await Messages.LastRoomIdAsync("a", None), Is.Zero, "nothing of it was stored");
        Assert.That(await WholeRoomAsync("a"), Is.Empty);
        Assert.That(await Messages.AppendRoomMessagesAsync("a", [Message("next")], None), Is.EqualTo(1), "and it took no number");
    }

    [Test]
    public async Task Messages_added_to_a_queued_batch_until_the_store_closes_it_are_stored_with_it_once_and_in_order()
    {
        // The room adds while the store may close the batch at any moment (when it starts writing it): what was
        // accepted is stored with the batch, under consecutive numbers in the order added; what was refused starts
        // the next batch, queued behind it. Another room's appends share the store meanwhile.
        const int batches = 20;
        await Rooms.TryCreateAsync("a", None);
        await Rooms.TryCreateAsync("b", None);
        var expected = new List<string>();
        var queued = new List<(RoomBatch Batch, Task<long> Stored, int Count)>();
        Task<long>? previous = null;
        var next = 0;
        for (var b = 0; b < batches; b++)
        {
            var batch = new RoomBatch([Message($"m{next}")]);
            expected.Add($"m{next++}");
            previous = await Messages.QueueRoomBatchAsync("a", batch, previous, None);
            var count = 1;
            for (var i = 0; i < 50 && batch.TryAdd(Message($"m{next}")); i++)
            {
                expected.Add($"m{next++}");
                count++;
                if (i % 10 == 0)
                {
                    await Messages.AppendRoomMessagesAsync("b", [Message($"b{b}.{i}")], None);
                }
            }

            queued.Add((batch, previous, count));
        }

        var firstId = 1L;
        foreach (var (batch, stored, count) in queued)
        {
            Assert.That(await stored.WaitAsync(Timeout), Is.EqualTo(firstId), "each batch numbered right after the one before, holding what it accepted");
            Assert.That(batch.IsOpen, Is.False, "the store closed it to write it");
            Assert.That(batch.TryAdd(Message("too late")), Is.False, "nothing joins a batch once written");
            firstId += count;
        }

        Assert.That((await WholeRoomAsync("a")).Select(m => m.Text), Is.EqualTo(expected), "every accepted message once, in order, nothing refused");
        Assert.That(await Messages.LastRoomIdAsync("a", None), Is.EqualTo(expected.Count), "no gap");
    }

    [Test]
    public async Task Messages_added_to_a_batch_that_fails_fail_with_it_and_take_no_number()
    {
        await Rooms.TryCreateAsync("a", None);
        var failing = new RoomBatch([Message("refused")]);
        var stored = await Messages.QueueRoomBatchAsync("nowhere", failing, null, None);
        failing.TryAdd(Message("added while open"));
        var behind = new RoomBatch([Message("queued behind it")]);
        var storedBehind = await Messages.QueueRoomBatchAsync("a", behind, stored, None);
        behind.TryAdd(Message("added behind"));

        var reason = Assert.CatchAsync<Exception>(async () => await stored.WaitAsync(Timeout));
        Assert.That(Assert.CatchAsync<Exception>(async () => await storedBehind.WaitAsync(Timeout)), Is.SameAs(reason), "what was queued behind fails the same way");
        Assert.That(await WholeRoomAsync("a"), Is.Empty, "nothing of either was stored, whatever they held");
        Assert.That(await Messages.AppendRoomMessagesAsync("a", [Message("next")], None), Is.EqualTo(1), "and they took no number");
    }

    [Test]
    public async Task Concurrent_appenders_to_one_room_get_disjoint_consecutive_numbers_with_no_gap()
    {
        // Several writers sharing a room: room loops on several nodes, in a cluster.
        const int appenders = 8;
        const int batchesEach = 25;
        await Rooms.TryCreateAsync("shared", None);
        await Rooms.TryCreateAsync("other", None);

        var writers = Enumerable.Range(0, appenders).Select(w => Task.Run(async () =>
        {
            var got = new List<(long First, string[] Texts)>();
            for (var b = 0; b < batchesEach; b++)
            {
                string[] texts = [.. Enumerable.Range(0, 1 + ((w + b) % 4)).Select(i => $"w{w} b{b} m{i}")];
                var room = b % 5 == 4 ? "other" : "shared";
                var first = await Messages.AppendRoomMessagesAsync(room, [.. texts.Select(t => Message(t))], None);
                if (room == "shared")
                {
                    got.Add((first, texts));
                }
            }

            return got;
        })).ToArray();
        var batches = (await Task.WhenAll(writers).WaitAsync(Timeout)).SelectMany(g => g).ToList();

        var expected = new Dictionary<long, string>();
        foreach (var (first, texts) in batches)
        {
            for (var i = 0; i < texts.Length; i++)
            {
                Assert.That(expected.TryAdd(first + i, texts[i]), Is.True, $"id {first + i} handed out twice");
            }
        }

        var stored = await WholeRoomAsync("shared");
        Assert.That(stored.Select(m => m.Id), Is.EqualTo(Enumerable.Range(1, expected.Count).Select(i => (long)i)), "1..n, each once, in order");
        Assert.That(stored.Select(m => m.Text), Is.EqualTo(stored.Select(m => expected[m.Id])), "each message under the id its appender was told");
        Assert.That(await Messages.LastRoomIdAsync("shared", None), Is.EqualTo(expected.Count));
        Assert.That((await WholeRoomAsync("other")).Select(m => m.Id), Is.EqualTo(Enumerable.Range(1, (await WholeRoomAsync("other")).Count).Select(i => (long)i)));
    }

    [Test]
    public async Task Room_history_pages_both_ways_oldest_first_and_keeps_rooms_apart()
    {
        await Rooms.TryCreateAsync("a", None);
        await Rooms.TryCreateAsync("b", None);
        await Messages.AppendRoomMessagesAsync("a", [.. Enumerable.Range(1, 6).Select(i => Message($"a{i}"))], None);
        await Messages.AppendRoomMessagesAsync("b", [Message("b1"), Message("b2")], None);
        await Messages.AppendRoomMessagesAsync("a", [.. Enumerable.Range(7, 4).Select(i => Message($"a{i}"))], None);

        Assert.That(await RoomIdsAsync("a", null, null, 3), Is.EqualTo(new long[] { 8, 9, 10 }), "the newest page");
        Assert.That(await RoomIdsAsync("a", 8, null, 3), Is.EqualTo(new long[] { 5, 6, 7 }));
        Assert.That(await RoomIdsAsync("a", 3, null, 50), Is.EqualTo(new long[] { 1, 2 }));
        Assert.That(await RoomIdsAsync("a", 1, null, 50), Is.Empty);
        Assert.That(await RoomIdsAsync("a", null, 2, 3), Is.EqualTo(new long[] { 3, 4, 5 }));
        Assert.That(await RoomIdsAsync("a", null, 0, 50), Is.EqualTo(Enumerable.Range(1, 10).Select(i => (long)i)));
        Assert.That(await RoomIdsAsync("a", null, 10, 50), Is.Empty);
        Assert.That(await RoomIdsAsync("b", null, null, 50), Is.EqualTo(new long[] { 1, 2 }));
        Assert.That(await RoomIdsAsync("nowhere", null, null, 50), Is.Empty);
    }

    [Test]
    public async Task Private_history_holds_exactly_the_two_users_conversation_both_ways()
    {
        var ab1 = await Messages.AppendPrivateMessageAsync("alice", "bob", "hi bob", T0, None);
        var ac = await Messages.AppendPrivateMessageAsync("alice", "carol", "hi carol", T0, None);
        var ba = await Messages.AppendPrivateMessageAsync("bob", "alice", "hi alice", T0.AddSeconds(1), None);
        var cb = await Messages.AppendPrivateMessageAsync("carol", "bob", "psst bob", T0, None);
        var ab2 = await Messages.AppendPrivateMessageAsync("alice", "bob", "again", T0.AddSeconds(2), None);
        Assert.That(new[] { ab1, ac, ba, cb, ab2 }, Is.Ordered.Ascending.And.Unique);

        var aliceBob = await Messages.PrivateHistoryAsync("alice", "bob", new HistoryQuery(null, null, 50), None);
        Assert.That(aliceBob.Select(m => m.Id), Is.EqualTo(new[] { ab1, ba, ab2 }));
        Assert.That(aliceBob.Select(m => (m.From, m.To, m.Text)), Is.EqualTo(new[] { ("alice", "bob", "hi bob"), ("bob", "alice", "hi alice"), ("alice", "bob", "again") }));
        var bobAlice = await Messages.PrivateHistoryAsync("bob", "alice", new HistoryQuery(null, null, 50), None);
        Assert.That(bobAlice.Select(m => m.Id), Is.EqualTo(new[] { ab1, ba, ab2 }));
        Assert.That(bobAlice[1].Timestamp, Is.EqualTo(T0.AddSeconds(1)));

        Assert.That((await Messages.PrivateHistoryAsync("alice", "bob", new HistoryQuery(ab2, null, 1), None)).Select(m => m.Id), Is.EqualTo(new[] { ba }));
        Assert.That((await Messages.PrivateHistoryAsync("alice", "bob", new HistoryQuery(null, ab1, 1), None)).Select(m => m.Id), Is.EqualTo(new[] { ba }));
        Assert.That((await Messages.PrivateHistoryAsync("bob", "carol", new HistoryQuery(null, null, 50), None)).Select(m => m.Id), Is.EqualTo(new[] { cb }));
        Assert.That(await Messages.PrivateHistoryAsync("carol", "dave", new HistoryQuery(null, null, 50), None), Is.Empty);
    }

    [Test]
    public async Task A_users_private_messages_after_an_id_span_all_their_conversations_and_the_last_id_is_the_highest_handed_out()
    {
        Assert.That(await Messages.LastPrivateIdAsync(None), Is.Zero);
        Assert.That(await Messages.PrivateMessagesOfAsync("alice", 0, 50, None), Is.Empty);
        var ab = await Messages.AppendPrivateMessageAsync("alice", "bob", "hi bob", T0, None);
        var cb = await Messages.AppendPrivateMessageAsync("carol", "bob", "psst bob", T0, None);
        var ca = await Messages.AppendPrivateMessageAsync("carol", "alice", "hi alice", T0.AddSeconds(1), None);
        var aa = await Messages.AppendPrivateMessageAsync("alice", "alice", "note to self", T0.AddSeconds(2), None);

        Assert.That(await Messages.LastPrivateIdAsync(None), Is.EqualTo(aa));
        var alice = await Messages.PrivateMessagesOfAsync("alice", 0, 50, None);
        Assert.That(alice.Select(m => (m.Id, m.From, m.To, m.Text)), Is.EqualTo(new[] { (ab, "alice", "bob", "hi bob"), (ca, "carol", "alice", "hi alice"), (aa, "alice", "alice", "note to self") }));
        Assert.That(alice[1].Timestamp, Is.EqualTo(T0.AddSeconds(1)));
        Assert.That((await Messages.PrivateMessagesOfAsync("alice", ab, 1, None)).Select(m => m.Id), Is.EqualTo(new[] { ca }));
        Assert.That((await Messages.PrivateMessagesOfAsync("bob", ab, 50, None)).Select(m => m.Id), Is.EqualTo(new[] { cb }));
        Assert.That(await Messages.PrivateMessagesOfAsync("alice", aa, 50, None), Is.Empty);
    }

    [Test]
    public async Task Concurrent_private_senders_get_unique_ids_increasing_per_sender()
    {
        var senders = Enumerable.Range(0, 8).Select(s => Task.Run(async () =>
        {
            var ids = new List<long>();
            for (var i = 0; i < 25; i++)
            {
                ids.Add(await Messages.AppendPrivateMessageAsync($"user{s}", "hub", $"{s}:{i}", T0, None));
            }

            return ids;
        })).ToArray();
        var all = await Task.WhenAll(senders).WaitAsync(Timeout);

        Assert.That(all.SelectMany(ids => ids), Is.Unique);
        for (var s = 0; s < all.Length; s++)
        {
            Assert.That(all[s], Is.Ordered.Ascending);
            var conversation = await Messages.PrivateHistoryAsync($"user{s}", "hub", new HistoryQuery(null, 0, 200), None);
            Assert.That(conversation.Select(m => (m.Id, m.Text)), Is.EqualTo(all[s].Select((id, i) => (id, $"{s}:{i}"))));
        }
    }

    [Test]
    public async Task Two_stores_on_one_database_appending_to_one_room_commit_unique_gap_free_ids_in_id_order()
    {
        // Two nodes' room loops on one room. Commit order = id order: no reader ever sees a number before every
        // smaller one is visible too, and an appender that got its numbers back finds them all stored.
        const int batchesEach = 40;
        var second = await OpenSecondAsync();
        await Rooms.TryCreateAsync("shared", None);
        IMessageStore[] appenders = [Messages, second.Messages, Messages, second.Messages];
        using var done = new CancellationTokenSource();
        var holes = new List<string>();
        var reads = 0;
        var reader = Task.Run(async () =>
        {
            while (!done.IsCancellationRequested && reads < 10_000)
            {
                var snapshot = await second.Messages.RoomHistoryAsync("shared", new HistoryQuery(null, 0, 100_000), None);
                reads++;
                if (!snapshot.Select(m => m.Id).SequenceEqual(Enumerable.Range(1, snapshot.Count).Select(i => (long)i)))
                {
                    holes.Add(string.Join(",", snapshot.Select(m => m.Id)));
                }
            }
        });

        var writers = appenders.Select((store, w) => Task.Run(async () =>
        {
            var got = new List<(long First, string[] Texts)>();
            for (var b = 0; b < batchesEach; b++)
            {
                string[] texts = [.. Enumerable.Range(0, 1 + ((w + b) % 5)).Select(i => $"w{w} b{b} m{i}")];
                var first = await store.AppendRoomMessagesAsync("shared", [.. texts.Select(t => Message(t))], None);
                var visible = await store.LastRoomIdAsync("shared", None);
                Assert.That(visible, Is.GreaterThanOrEqualTo(first + texts.Length - 1), "an appender's numbers are stored when it gets them");
                got.Add((first, texts));
            }

            return got;
        })).ToArray();
        var batches = (await Task.WhenAll(writers).WaitAsync(Timeout)).SelectMany(g => g).ToList();
        await done.CancelAsync();
        await reader.WaitAsync(Timeout);

        var expected = new Dictionary<long, string>();
        foreach (var (first, texts) in batches)
        {
            for (var i = 0; i < texts.Length; i++)
            {
                Assert.That(expected.TryAdd(first + i, texts[i]), Is.True, $"id {first + i} handed out twice");
            }
        }

        var stored = await WholeRoomAsync("shared");
        Assert.That(stored.Select(m => m.Id), Is.EqualTo(Enumerable.Range(1, expected.Count).Select(i => (long)i)), "1..n, each once, in order");
        Assert.That(stored.Select(m => m.Text), Is.EqualTo(stored.Select(m => expected[m.Id])));
        Assert.That(holes, Is.Empty, $"a reader saw a number before a smaller one ({reads} reads)");
        Assert.That(await second.Messages.LastRoomIdAsync("shared", None), Is.EqualTo(expected.Count));
    }

    [Test]
    public async Task Two_stores_creating_the_same_room_or_account_at_once_give_exactly_one_success()
    {
        var second = await OpenSecondAsync();
        for (var i = 0; i < 20; i++)
        {
            var room = $"race{i}";
            var rooms = await Task.WhenAll(
                Task.Run(async () => await Rooms.TryCreateAsync(room, None)),
                Task.Run(async () => await second.Rooms.TryCreateAsync(room, None))).WaitAsync(Timeout);
            Assert.That(rooms.Count(created => created), Is.EqualTo(1), $"room {room}: {string.Join(",", rooms)}");

            var user = $"racer{i}";
            var accounts = await Task.WhenAll(
                Task.Run(async () => await Accounts.TryCreateAsync(user, $"first-{i}", None)),
                Task.Run(async () => await second.Accounts.TryCreateAsync(user, $"second-{i}", None))).WaitAsync(Timeout);
            Assert.That(accounts.Count(created => created), Is.EqualTo(1), $"account {user}: {string.Join(",", accounts)}");
            var winner = accounts[0] ? $"first-{i}" : $"second-{i}";
            Assert.That(await second.Accounts.AuthenticateAsync(winner, None), Is.EqualTo(user));
        }

        Assert.That(await second.Rooms.ListAsync(None), Has.Count.EqualTo(20));
    }

    [Test]
    public async Task What_one_store_commits_the_other_reads_at_once()
    {
        // Joining on node A, then posting (and reading) on node B.
        var second = await OpenSecondAsync();
        await Rooms.TryCreateAsync("lobby", None);
        await Rooms.AddMemberAsync("lobby", "alice", None);
        Assert.That(await second.Rooms.MembersAsync("lobby", None), Is.EqualTo(new[] { "alice" }));
        Assert.That(await second.Rooms.RoomsOfAsync("alice", None), Is.EqualTo(new[] { "lobby" }));

        Assert.That(await second.Messages.AppendRoomMessagesAsync("lobby", [Message("from b", from: "alice")], None), Is.EqualTo(1));
        Assert.That(await Messages.AppendRoomMessagesAsync("lobby", [Message("from a", from: "alice")], None), Is.EqualTo(2));
        Assert.That((await WholeRoomAsync("lobby")).Select(m => m.Text), Is.EqualTo(new[] { "from b", "from a" }));

        var id = await second.Messages.AppendPrivateMessageAsync("alice", "bob", "psst", T0, None);
        Assert.That((await Messages.PrivateHistoryAsync("bob", "alice", new HistoryQuery(null, null, 10), None)).Select(m => m.Id), Is.EqualTo(new[] { id }));
        Assert.That(await Rooms.RemoveMemberAsync("lobby", "alice", None), Is.True);
        Assert.That(await second.Rooms.MembersAsync("lobby", None), Is.Empty);
    }

    private static NewRoomMessage Event(string kind, string from, string? target = null, string text = "", long? refersTo = null, DateTimeOffset? until = null, DateTimeOffset? at = null) =>
        new(from, text, at ?? T0) { Kind = kind, Target = target, RefersTo = refersTo, Until = until };

    [Test]
    public async Task A_room_is_created_public_or_private_with_its_owner_and_an_old_style_room_is_public_without_one()
    {
        Assert.That(await Rooms.TryCreateAsync("secret", "alice", true, None), Is.True);
        Assert.That(await Rooms.TryCreateAsync("secret", "bob", false, None), Is.False);
        Assert.That(await Rooms.TryCreateAsync("open", "bob", false, None), Is.True);
        Assert.That(await Rooms.TryCreateAsync("default", None), Is.True);

        var secret = await Rooms.AccessAsync("secret", None);
        Assert.That(secret!.IsPrivate, Is.True);
        Assert.That(secret.Owner, Is.EqualTo("alice"), "the first creator keeps the room");
        Assert.That(secret.Topic, Is.Null);
        Assert.That((await Rooms.AccessAsync("open", None))!.IsPrivate, Is.False);
        var plain = await Rooms.AccessAsync("default", None);
        Assert.That((plain!.IsPrivate, plain.Owner), Is.EqualTo((false, (string?)null)));
        Assert.That(await Rooms.AccessAsync("nowhere", None), Is.Null);
        Assert.That(await Rooms.PrivateRoomsAsync(None), Is.EqualTo(new[] { "secret" }));
        Assert.That(await Rooms.ListAsync(None), Is.EqualTo(new[] { "default", "open", "secret" }), "the store lists every room; hiding is the core's rule");
    }

    [Test]
    public async Task Storing_a_moderation_event_applies_it_in_the_same_append_and_numbers_it_in_the_room_order()
    {
        await Rooms.TryCreateAsync("lobby", "alice", true, None);
        foreach (var user in new[] { "alice", "bob", "carol", "dave" })
        {
            await Rooms.AddMemberAsync("lobby", user, None);
        }

        var until = T0.AddMinutes(5);
        Assert.That(await Messages.AppendRoomMessagesAsync("lobby", [Message("hello", from: "bob")], None), Is.EqualTo(1));
        Assert.That(
            await Messages.AppendRoomMessagesAsync(
                "lobby",
                [
                    Event(RoomEventKind.Invite, "alice", "erin"),
                    Event(RoomEventKind.Role, "alice", "carol", "moderator"),
                    Event(RoomEventKind.Mute, "carol", "dave", until: until),
                    Event(RoomEventKind.Ban, "carol", "bob"),
                    Event(RoomEventKind.Topic, "carol", text: "plans for friday"),
                ],
                None),
            Is.EqualTo(2));

        var access = (await Rooms.AccessAsync("lobby", None))!;
        Assert.That(access.Invited, Is.EquivalentTo(new[] { "erin" }));
        Assert.That(access.Moderators, Is.EquivalentTo(new[] { "carol" }));
        Assert.That(access.MutedUntil["dave"], Is.EqualTo(until));
        Assert.That(access.Banned, Is.EquivalentTo(new[] { "bob" }));
        Assert.That(access.Topic, Is.EqualTo("plans for friday"));
        Assert.That(await Rooms.MembersAsync("lobby", None), Is.EquivalentTo(new[] { "alice", "carol", "dave" }), "a ban ends the membership");

        await Messages.AppendRoomMessagesAsync(
            "lobby",
            [
                Event(RoomEventKind.Unban, "carol", "bob"),
                Event(RoomEventKind.Unmute, "carol", "dave"),
                Event(RoomEventKind.Kick, "alice", "dave"),
                Event(RoomEventKind.Kick, "alice", "erin"),
                Event(RoomEventKind.Role, "alice", "carol", "member"),
                Event(RoomEventKind.Topic, "alice"),
            ],
            None);
        access = (await Rooms.AccessAsync("lobby", None))!;
        Assert.That(access.Banned, Is.Empty);
        Assert.That(access.MutedUntil, Is.Empty);
        Assert.That(access.Invited, Is.Empty, "a kick takes back an invitation");
        Assert.That(access.Moderators, Is.Empty);
        Assert.That(access.Topic, Is.Null, "an empty topic clears it");
        Assert.That(await Rooms.MembersAsync("lobby", None), Is.EquivalentTo(new[] { "alice", "carol" }));

        var history = await WholeRoomAsync("lobby");
        Assert.That(history.Select(m => m.Id), Is.EqualTo(Enumerable.Range(1, 12).Select(i => (long)i)));
        Assert.That(history.Select(m => m.Kind), Is.EqualTo(new[] { null, "invite", "role", "mute", "ban", "topic", "unban", "unmute", "kick", "kick", "role", "topic" }));
        var mute = history[3];
        Assert.That((mute.From, mute.Target, mute.Until), Is.EqualTo(("carol", (string?)"dave", (DateTimeOffset?)until)));
        Assert.That(history[2].Text, Is.EqualTo("moderator"));
        Assert.That(history[0].Kind, Is.Null);
    }

    [Test]
    public async Task An_edit_replaces_the_text_with_an_edited_time_and_a_delete_leaves_a_tombstone_without_any_of_its_text()
    {
        await Rooms.TryCreateAsync("lobby", None);
        await Messages.AppendRoomMessagesAsync("lobby", [Message("helo"), Message("second", from: "bar_user")], None);
        var editedAt = T0.AddSeconds(30);
        Assert.That(await Messages.AppendRoomMessagesAsync("lobby", [Event(RoomEventKind.Edit, "foo_user", text: "hello", refersTo: 1, at: editedAt)], None), Is.EqualTo(3));

        var first = await Messages.FindRoomMessageAsync("lobby", 1, None);
        Assert.That((first!.Text, first.EditedAt, first.Deleted, first.From, first.Timestamp), Is.EqualTo(("hello", (DateTimeOffset?)editedAt, false, "foo_user", T0)));
        var edit = await Messages.FindRoomMessageAsync("lobby", 3, None);
        Assert.That((edit!.Kind, edit.RefersTo, edit.Text), Is.EqualTo(((string?)"edit", (long?)1, "hello")));
        Assert.That(await Messages.FindRoomMessageAsync("lobby", 99, None), Is.Null);
        Assert.That(await Messages.FindRoomMessageAsync("nowhere", 1, None), Is.Null);

        Assert.That(await Messages.AppendRoomMessagesAsync("lobby", [Event(RoomEventKind.Delete, "foo_user", refersTo: 1)], None), Is.EqualTo(4));
        var history = await WholeRoomAsync("lobby");
        Assert.That(history.Select(m => m.Id), Is.EqualTo(new long[] { 1, 2, 3, 4 }), "edits and deletions never reorder the room");
        Assert.That((history[0].Deleted, history[0].Text), Is.EqualTo((true, "")));
        Assert.That(history[2].Text, Is.Empty, "the edit of a deleted message loses its text too");
        Assert.That((history[1].Text, history[1].Deleted, history[1].EditedAt), Is.EqualTo(("second", false, (DateTimeOffset?)null)));
        Assert.That((history[3].Kind, history[3].RefersTo), Is.EqualTo(((string?)"delete", (long?)1)));
    }

    private IReadingStore Reading => (IReadingStore)stores.Messages;

    private static SearchQuery Query(string text) => SearchQuery.Parse(text).Value!;

    [Test]
    public async Task Read_positions_only_move_forward_and_start_at_the_newest_message_when_a_member_joins()
    {
        await Rooms.TryCreateAsync("lobby", None);
        await Messages.AppendRoomMessagesAsync("lobby", [Message("one"), Message("two")], None);
        Assert.That(await Rooms.AddMemberAsync("lobby", "bar_user", None), Is.True);
        var joined = await Reading.RoomReadStatesAsync("bar_user", ["lobby"], None);
        Assert.That(joined.Single(), Is.EqualTo(new RoomReadState("lobby", 2, 0, 0)), "what came before the join is not unread");

        await Messages.AppendRoomMessagesAsync("lobby", [Message("three"), Message("four"), Message("mine", from: "bar_user")], None);
        Assert.That((await Reading.RoomReadStatesAsync("bar_user", ["lobby"], None)).Single().Unread, Is.EqualTo(2), "the reader's own messages are not unread");
        Assert.That(await Reading.MarkRoomReadAsync("bar_user", "lobby", 4, None), Is.EqualTo(4));
        Assert.That(await Reading.MarkRoomReadAsync("bar_user", "lobby", 3, None), Is.EqualTo(4), "a position never goes back");
        Assert.That((await Reading.RoomReadStatesAsync("bar_user", ["lobby"], None)).Single(), Is.EqualTo(new RoomReadState("lobby", 4, 0, 0)));
        Assert.That(await Reading.MarkRoomReadAsync("bar_user", "nowhere", 3, None), Is.Zero);
        Assert.That(await Reading.RoomReadStatesAsync("bar_user", ["nowhere"], None), Is.Empty);
    }

    [Test]
    public async Task Mentions_are_stored_with_their_message_and_counted_until_read_and_not_once_deleted()
    {
        await Rooms.TryCreateAsync("lobby", None);
        await Rooms.AddMemberAsync("lobby", "bar_user", None);
        await Messages.AppendRoomMessagesAsync("lobby", [
            Message("hi @bar_user") with { Mentions = ["bar_user"] },
            Message("plain"),
            Message("again @bar_user") with { Mentions = ["bar_user"] },
        ], None);
        Assert.That((await Reading.RoomReadStatesAsync("bar_user", ["lobby"], None)).Single(), Is.EqualTo(new RoomReadState("lobby", 0, 3, 2)));

        await Messages.AppendRoomMessagesAsync("lobby", [Event(RoomEventKind.Delete, "foo_user", refersTo: 3)], None);
        Assert.That((await Reading.RoomReadStatesAsync("bar_user", ["lobby"], None)).Single(), Is.EqualTo(new RoomReadState("lobby", 0, 2, 1)), "a deleted message and the event are not unread");
        await Reading.MarkRoomReadAsync("bar_user", "lobby", 1, None);
        Assert.That((await Reading.RoomReadStatesAsync("bar_user", ["lobby"], None)).Single(), Is.EqualTo(new RoomReadState("lobby", 1, 1, 0)));
    }

    [Test]
    public async Task Unread_counts_stop_at_the_cap()
    {
        await Rooms.TryCreateAsync("lobby", None);
        await Rooms.AddMemberAsync("lobby", "bar_user", None);
        var many = Enumerable.Range(0, IReadingStore.CountCap + 5).Select(i => Message($"m{i}") with { Mentions = ["bar_user"] }).ToList();
        await Messages.AppendRoomMessagesAsync("lobby", many, None);
        var state = (await Reading.RoomReadStatesAsync("bar_user", ["lobby"], None)).Single();
        Assert.That((state.Unread, state.Mentions), Is.EqualTo((IReadingStore.CountCap, IReadingStore.CountCap)));
    }

    [Test]
    public async Task Conversations_are_listed_newest_first_with_unread_counts_and_a_monotonic_read_position()
    {
        await Messages.AppendPrivateMessageAsync("bar_user", "foo_user", "one", T0, None);
        await Messages.AppendPrivateMessageAsync("carol", "foo_user", "two", T0.AddSeconds(1), None);
        var three = await Messages.AppendPrivateMessageAsync("bar_user", "foo_user", "three", T0.AddSeconds(2), None);
        await Messages.AppendPrivateMessageAsync("foo_user", "bar_user", "four", T0.AddSeconds(3), None);

        var list = await Reading.ConversationsAsync("foo_user", 10, None);
        Assert.That(list.Select(c => (c.With, c.Unread)), Is.EqualTo(new[] { ("bar_user", 2), ("carol", 1) }), "newest first; my own messages are not unread");
        Assert.That(list[0].LastAt, Is.EqualTo(T0.AddSeconds(3)));
        Assert.That((await Reading.ConversationsAsync("foo_user", 1, None)).Count, Is.EqualTo(1));

        Assert.That(await Reading.MarkPrivateReadAsync("foo_user", "bar_user", three, None), Is.EqualTo(three));
        Assert.That(await Reading.MarkPrivateReadAsync("foo_user", "bar_user", 1, None), Is.EqualTo(three), "a position never goes back");
        var bar = await Reading.ConversationAsync("foo_user", "bar_user", None);
        Assert.That((bar.LastRead, bar.Unread, bar.LastId), Is.EqualTo((three, 0, three + 1)));
        Assert.That((await Reading.ConversationAsync("bar_user", "foo_user", None)).Unread, Is.EqualTo(1), "each user has their own position");
        Assert.That((await Reading.ConversationAsync("foo_user", "nobody", None)).LastId, Is.Zero);
        Assert.That(await Reading.ConversationsAsync("nobody", 10, None), Is.Empty);
    }

    [Test]
    public async Task Search_finds_words_phrases_and_prefixes_in_the_given_rooms_newest_first_and_pages_below_a_key()
    {
        await Rooms.TryCreateAsync("lobby", None);
        await Rooms.TryCreateAsync("secret", None);
        await Messages.AppendRoomMessagesAsync("lobby", [Message("the release is on Friday"), Message("nothing here"), Message("Release notes: see example.com")], None);
        await Messages.AppendRoomMessagesAsync("secret", [Message("secret release plans")], None);

        var hits = await Reading.SearchRoomsAsync(["lobby"], Query("release"), long.MaxValue, 10, None);
        Assert.That(hits.Select(h => (h.Message.Room, h.Message.Id, h.Message.Text)), Is.EqualTo(new[]
        {
            ("lobby", 3L, "Release notes: see example.com"), ("lobby", 1L, "the release is on Friday"),
        }), "only the rooms asked for, newest first, without case");
        Assert.That((await Reading.SearchRoomsAsync(["lobby", "secret"], Query("release"), long.MaxValue, 10, None)).Count, Is.EqualTo(3));
        Assert.That((await Reading.SearchRoomsAsync(["lobby"], Query("\"example com\""), long.MaxValue, 10, None)).Single().Message.Id, Is.EqualTo(3));
        Assert.That((await Reading.SearchRoomsAsync(["lobby"], Query("example.com"), long.MaxValue, 10, None)).Single().Message.Id, Is.EqualTo(3));
        Assert.That((await Reading.SearchRoomsAsync(["lobby"], Query("fri*"), long.MaxValue, 10, None)).Single().Message.Id, Is.EqualTo(1));
        Assert.That(await Reading.SearchRoomsAsync(["lobby"], Query("release plans"), long.MaxValue, 10, None), Is.Empty, "every word must match in one message");
        Assert.That(await Reading.SearchRoomsAsync([], Query("release"), long.MaxValue, 10, None), Is.Empty);

        var first = await Reading.SearchRoomsAsync(["lobby"], Query("release"), long.MaxValue, 1, None);
        var second = await Reading.SearchRoomsAsync(["lobby"], Query("release"), first.Single().Key, 1, None);
        Assert.That(second.Single().Message.Id, Is.EqualTo(1), "the next page starts below the last key");
        Assert.That(await Reading.SearchRoomsAsync(["lobby"], Query("release"), second.Single().Key, 1, None), Is.Empty);
    }

    [Test]
    public async Task Search_finds_an_edited_message_by_its_new_text_and_never_a_deleted_one_or_an_event()
    {
        await Rooms.TryCreateAsync("lobby", None);
        await Messages.AppendRoomMessagesAsync("lobby", [Message("helo wrld"), Message("to be removed")], None);
        await Messages.AppendRoomMessagesAsync("lobby", [Event(RoomEventKind.Edit, "foo_user", text: "hello world", refersTo: 1)], None);
        await Messages.AppendRoomMessagesAsync("lobby", [Event(RoomEventKind.Delete, "foo_user", refersTo: 2)], None);
        await Messages.AppendRoomMessagesAsync("lobby", [Event(RoomEventKind.Topic, "foo_user", text: "world news")], None);

        Assert.That(await Reading.SearchRoomsAsync(["lobby"], Query("helo"), long.MaxValue, 10, None), Is.Empty, "the old text is gone from the index");
        var edited = (await Reading.SearchRoomsAsync(["lobby"], Query("world"), long.MaxValue, 10, None)).Single().Message;
        Assert.That((edited.Id, edited.Text, edited.EditedAt is not null), Is.EqualTo((1L, "hello world", true)), "found by the new text, as history shows it; the topic event is not a message");
        Assert.That(await Reading.SearchRoomsAsync(["lobby"], Query("removed"), long.MaxValue, 10, None), Is.Empty);
    }

    [Test]
    public async Task Search_of_private_messages_finds_only_the_users_own_conversations()
    {
        await Messages.AppendPrivateMessageAsync("foo_user", "bar_user", "the password is swordfish", T0, None);
        await Messages.AppendPrivateMessageAsync("carol", "dave", "swordfish too", T0, None);
        var three = await Messages.AppendPrivateMessageAsync("bar_user", "foo_user", "Swordfish? really", T0, None);

        var hits = await Reading.SearchPrivateAsync("foo_user", Query("swordfish"), long.MaxValue, 10, None);
        Assert.That(hits.Select(h => h.Message.Text), Is.EqualTo(new[] { "Swordfish? really", "the password is swordfish" }));
        Assert.That((await Reading.SearchPrivateAsync("foo_user", Query("swordfish"), three, 10, None)).Single().Message.Text, Is.EqualTo("the password is swordfish"));
        Assert.That((await Reading.SearchPrivateAsync("dave", Query("swordfish"), long.MaxValue, 10, None)).Single().Message.From, Is.EqualTo("carol"));
    }
}
