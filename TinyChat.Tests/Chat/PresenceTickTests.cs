using Microsoft.Extensions.Logging.Abstractions;
using NSubstitute;
using TinyChat.Chat;
using TinyChat.Runtime;
using TinyChat.Storage.InMemory;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Chat;

/// <summary>
/// A room's presence announcements on a manual clock: the first change at once, later ones gathered per tick, and
/// counts instead of names above <see cref="RoomProcess.FullPresenceMaxMembers"/>.
/// </summary>
public sealed class PresenceTickTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Tick = TimeSpan.FromMilliseconds(200);
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
    private CancellationTokenSource stop = null!;
    private Supervisor supervisor = null!;
    private Task running = null!;
    private InProcessPresence presence = null!;
    private ManualClock clock = null!;
    private InMemoryStore store = null!;

    [SetUp]
    public void StartSupervisor()
    {
        presence = new InProcessPresence();
        clock = new ManualClock(T0);
        store = new InMemoryStore();
        stop = new CancellationTokenSource();
        supervisor = new Supervisor("rooms", RestartPolicy.Default, NullLogger.Instance);
        running = supervisor.RunAsync(stop.Token);
    }

    [TearDown]
    public async Task StopSupervisor()
    {
        await stop.CancelAsync();
        await running.WaitAsync(Timeout);
        stop.Dispose();
    }

    private async Task<RoomProcess> StartRoomAsync(int fullStateMaxMembers = int.MaxValue, TimeSpan countTick = default)
    {
        await supervisor.Started.WaitAsync(Timeout);
        await ((IRoomStore)store).TryCreateAsync("lobby", CancellationToken.None);
        var room = new RoomProcess("lobby", 64, store, store, _ => null, clock, new InProcessChatBus(), presence)
        {
            PresenceTick = Tick,
            CountTick = countTick,
            FullPresenceMaxMembers = fullStateMaxMembers,
        };
        Assert.That(supervisor.TryStartChild(room, RestartKind.Permanent), Is.True);
        return room;
    }

    private UserEndpoint Online(string user, IOutbox outbox)
    {
        var endpoint = new UserEndpoint(user, clock.GetUtcNow(), presence);
        endpoint.Attach(outbox);
        return endpoint;
    }

    private static async Task JoinAsync(RoomProcess room, UserEndpoint endpoint)
    {
        var join = new JoinRoom(endpoint.User, endpoint);
        Assert.That(await room.AskAsync(join, join.Reply, CancellationToken.None).WaitAsync(Timeout), Is.Null);

        // The reply reaches us while the loop is still finishing the join (it then schedules the presence tick): a
        // clock advanced before that would pass a timer not yet set. A round trip waits for the loop to be done.
        await SettledAsync(room);
    }

    private static async Task<PresenceState> WhoAsync(RoomProcess room, WhoIsHere who) =>
        (await room.AskAsync(who, who.Reply, CancellationToken.None).WaitAsync(Timeout)).Value!;

    // A round trip through the mailbox: everything posted before it (a tick included) has been handled.
    private static Task SettledAsync(RoomProcess room) => WhoAsync(room, new WhoIsHere("alice"));

    private static IEnumerable<string> Joins(IEnumerable<ChatEvent> events) => events.OfType<PresenceDiff>().SelectMany(d => d.Joins).Select(e => e.User);

    private static IEnumerable<string> Leaves(IEnumerable<ChatEvent> events) => events.OfType<PresenceDiff>().SelectMany(d => d.Leaves).Select(e => e.User);

    [Test]
    public async Task The_first_change_in_a_quiet_room_is_announced_at_once_and_the_next_ones_together_on_the_tick()
    {
        var room = await StartRoomAsync();
        var aliceBox = new RecordingOutbox();
        await JoinAsync(room, Online("alice", aliceBox));
        await SettledAsync(room);
        Assert.That(Joins(aliceBox.Drain()), Is.EqualTo(new[] { "alice" }), "the first change goes at once");

        await JoinAsync(room, Online("bob", new RecordingOutbox()));
        await JoinAsync(room, Online("carol", new RecordingOutbox()));
        await SettledAsync(room);
        Assert.That(aliceBox.Drain().OfType<PresenceDiff>(), Is.Empty, "within the tick nothing more is announced");

        clock.Advance(Tick);
        var gathered = await aliceBox.NextAsync<PresenceDiff>();
        Assert.That(gathered.Joins.Select(e => e.User), Is.EquivalentTo(new[] { "bob", "carol" }), "one diff for both");
        await SettledAsync(room);
        Assert.That(aliceBox.Drain().OfType<PresenceDiff>(), Is.Empty);

        // Quiet for a tick again: the next change goes at once.
        clock.Advance(Tick);
        await JoinAsync(room, Online("dave", new RecordingOutbox()));
        await SettledAsync(room);
        Assert.That(Joins(aliceBox.Drain()), Is.EqualTo(new[] { "dave" }));
    }

    [Test]
    public async Task Someone_who_comes_and_goes_within_one_tick_is_not_announced_at_all()
    {
        var room = await StartRoomAsync();
        var aliceBox = new RecordingOutbox();
        await JoinAsync(room, Online("alice", aliceBox));
        await SettledAsync(room);
        aliceBox.Drain();

        var bobBox = new RecordingOutbox();
        var bob = Online("bob", bobBox);
        await JoinAsync(room, bob);
        bob.Detach(bobBox);
        room.TryPost(new MemberOffline("bob", bob));
        await JoinAsync(room, Online("carol", new RecordingOutbox()));
        clock.Advance(Tick);
        await SettledAsync(room);

        var events = aliceBox.Drain();
        Assert.That(Joins(events), Is.EqualTo(new[] { "carol" }));
        Assert.That(Leaves(events), Is.Empty);
        Assert.That((await WhoAsync(room, new WhoIsHere("alice"))).Online.Select(e => e.User), Is.EqualTo(new[] { "alice", "carol" }));
    }

    [Test]
    public async Task A_greeting_reaches_the_connection_before_any_change_announced_after_it()
    {
        var room = await StartRoomAsync();
        var aliceBox = new RecordingOutbox();
        await JoinAsync(room, Online("alice", aliceBox));
        await JoinAsync(room, Online("bob", new RecordingOutbox()));

        // Bob's appearance is still due when alice's connection asks for its greeting: the greeting lists him,
        // and the diff that announces him comes after it.
        var greeting = await WhoAsync(room, new WhoIsHere("alice", Greeting: true, PushTo: aliceBox));
        Assert.That(greeting.Online.Select(e => e.User), Is.EqualTo(new[] { "alice", "bob" }));
        clock.Advance(Tick);
        await SettledAsync(room);

        var events = aliceBox.Drain().Where(e => e is PresenceState or PresenceDiff).ToList();
        var state = events.FindIndex(e => e is PresenceState);
        Assert.That(state, Is.GreaterThanOrEqualTo(0), "the greeting was queued on the connection");
        Assert.That(Joins(events.Skip(state)), Is.EqualTo(new[] { "bob" }), "bob's diff follows the greeting");
    }

    [Test]
    public async Task Above_the_full_state_size_the_room_counts_instead_of_naming_and_names_again_below_it()
    {
        var room = await StartRoomAsync(fullStateMaxMembers: 2);
        var aliceBox = new RecordingOutbox();
        await JoinAsync(room, Online("alice", aliceBox));
        clock.Advance(Tick);
        await JoinAsync(room, Online("bob", new RecordingOutbox()));
        clock.Advance(Tick);
        await SettledAsync(room);
        Assert.That(Joins(aliceBox.Drain()), Is.EqualTo(new[] { "alice", "bob" }), "two fit the list");

        var carolBox = new RecordingOutbox();
        var carol = Online("carol", carolBox);
        await JoinAsync(room, carol);
        clock.Advance(Tick);
        await SettledAsync(room);
        var crossing = aliceBox.Drain();
        var hidden = crossing.OfType<PresenceDiff>().Single();
        Assert.That(hidden.Relisting, Is.True);
        Assert.That(hidden.Leaves.Select(e => e.User), Is.EquivalentTo(new[] { "alice", "bob" }), "whoever keeps a list empties it");
        Assert.That(crossing.OfType<PresenceCount>().Single().Online, Is.EqualTo(3));

        await JoinAsync(room, Online("dave", new RecordingOutbox()));
        clock.Advance(Tick);
        await SettledAsync(room);
        var counted = aliceBox.Drain();
        Assert.That(counted.OfType<PresenceDiff>(), Is.Empty, "no names in a counted room");
        Assert.That(counted.OfType<PresenceCount>().Single().Online, Is.EqualTo(4));

        var greeting = await WhoAsync(room, new WhoIsHere("alice", Greeting: true));
        Assert.That(greeting.Counted, Is.True);
        Assert.That(greeting.Online, Is.Empty);
        Assert.That(greeting.Total, Is.EqualTo(4));

        // Leaving a counted room: the others get the count, the leaver its own leave (its other tabs drop the room).
        carolBox.Drain();
        var leave = new LeaveRoom("carol");
        Assert.That(await room.AskAsync(leave, leave.Reply, CancellationToken.None).WaitAsync(Timeout), Is.Null);
        var own = carolBox.Drain();
        Assert.That(Leaves(own), Is.EqualTo(new[] { "carol" }));
        Assert.That(aliceBox.Drain().OfType<PresenceCount>().Single().Online, Is.EqualTo(3));

        var gone = new LeaveRoom("dave");
        Assert.That(await room.AskAsync(gone, gone.Reply, CancellationToken.None).WaitAsync(Timeout), Is.Null);
        var relisted = aliceBox.Drain().OfType<PresenceDiff>().Single();
        Assert.That(relisted.Relisting, Is.True);
        Assert.That(relisted.Joins.Select(e => e.User), Is.EquivalentTo(new[] { "alice", "bob" }), "the list comes back whole");
    }

    [Test]
    public async Task A_room_that_counts_announces_at_most_once_per_count_tick_and_a_room_that_lists_per_presence_tick()
    {
        var countTick = TimeSpan.FromSeconds(1);
        var room = await StartRoomAsync(fullStateMaxMembers: 2, countTick: countTick);
        var aliceBox = new RecordingOutbox();
        await JoinAsync(room, Online("alice", aliceBox));
        await JoinAsync(room, Online("bob", new RecordingOutbox()));
        clock.Advance(Tick);
        await SettledAsync(room);
        Assert.That(Joins(aliceBox.Drain()), Is.EqualTo(new[] { "alice", "bob" }), "a listed room announces per presence tick");

        // Crossing the limit is announced on the presence tick: the room was listing until then.
        await JoinAsync(room, Online("carol", new RecordingOutbox()));
        clock.Advance(Tick);
        Assert.That((await aliceBox.NextAsync<PresenceCount>()).Online, Is.EqualTo(3));

        // Counted now: dave and erin are gathered for the count tick, not announced one presence tick later.
        await JoinAsync(room, Online("dave", new RecordingOutbox()));
        await JoinAsync(room, Online("erin", new RecordingOutbox()));
        for (var elapsed = Tick; elapsed < countTick; elapsed += Tick)
        {
            clock.Advance(Tick);
            await SettledAsync(room);
            Assert.That(aliceBox.Drain().OfType<PresenceCount>(), Is.Empty, $"nothing announced {elapsed.TotalMilliseconds} ms after the last count");
        }

        clock.Advance(Tick);
        Assert.That((await aliceBox.NextAsync<PresenceCount>()).Online, Is.EqualTo(5), "both in one count, once the count tick is over");

        // A greeting in between counts whoever is online now, not what the last count said.
        await JoinAsync(room, Online("frank", new RecordingOutbox()));
        Assert.That((await WhoAsync(room, new WhoIsHere("frank", Greeting: true))).Total, Is.EqualTo(6));
    }

    [Test]
    public async Task A_greeting_in_a_counted_room_counts_whoever_came_or_went_since_the_last_count()
    {
        var countTick = TimeSpan.FromSeconds(1);
        var room = await StartRoomAsync(fullStateMaxMembers: 2, countTick: countTick);
        var aliceBox = new RecordingOutbox();
        await JoinAsync(room, Online("alice", aliceBox));
        await JoinAsync(room, Online("bob", new RecordingOutbox()));
        var carolBox = new RecordingOutbox();
        var carol = Online("carol", carolBox);
        await JoinAsync(room, carol);
        clock.Advance(Tick);
        Assert.That((await aliceBox.NextAsync<PresenceCount>()).Online, Is.EqualTo(3));

        async Task<int> GreetingAsync() => (await WhoAsync(room, new WhoIsHere("alice", Greeting: true))).Total;

        // Within one count tick: two join, one of them loses its connection, the other leaves, a counted member goes
        // offline, and the greeting follows every step.
        await JoinAsync(room, Online("dave", new RecordingOutbox()));
        Assert.That(await GreetingAsync(), Is.EqualTo(4));
        var erinBox = new RecordingOutbox();
        var erin = Online("erin", erinBox);
        await JoinAsync(room, erin);
        Assert.That(await GreetingAsync(), Is.EqualTo(5));
        erin.Detach(erinBox);
        room.TryPost(new MemberOffline("erin", erin));
        Assert.That(await GreetingAsync(), Is.EqualTo(4), "erin went offline");
        var leave = new LeaveRoom("dave");
        Assert.That(await room.AskAsync(leave, leave.Reply, CancellationToken.None).WaitAsync(Timeout), Is.Null);
        Assert.That(await GreetingAsync(), Is.EqualTo(3), "dave left");
        carol.Detach(carolBox);
        room.TryPost(new MemberOffline("carol", carol));
        Assert.That(await GreetingAsync(), Is.EqualTo(2), "carol, counted before, went offline");
        room.TryPost(new MemberOnline("erin", Online("erin", new RecordingOutbox())));
        Assert.That(await GreetingAsync(), Is.EqualTo(3), "erin is back");

        // The count the tick announces is the greeting's, and so is the greeting after it.
        clock.Advance(countTick);
        Assert.That((await aliceBox.NextAsync<PresenceCount>()).Online, Is.EqualTo(3));
        Assert.That(await GreetingAsync(), Is.EqualTo(3));
    }

    [Test]
    public async Task Who_pages_the_names_in_order_after_a_cursor()
    {
        var room = await StartRoomAsync(fullStateMaxMembers: 2);
        foreach (var user in new[] { "alice", "bob", "carol", "dave", "erin" })
        {
            await JoinAsync(room, Online(user, new RecordingOutbox()));
        }

        var first = await WhoAsync(room, new WhoIsHere("alice"));
        Assert.That(first.Paged, Is.True, "a room too big to list answers a plain who with its first page");
        Assert.That(first.Online.Select(e => e.User), Is.EqualTo(new[] { "alice", "bob" }));
        Assert.That(first.Total, Is.EqualTo(5));
        Assert.That(first.Next, Is.EqualTo("bob"));

        var second = await WhoAsync(room, new WhoIsHere("alice", After: "bob", Limit: 2));
        Assert.That(second.Online.Select(e => e.User), Is.EqualTo(new[] { "carol", "dave" }));
        Assert.That(second.Next, Is.EqualTo("dave"));

        var last = await WhoAsync(room, new WhoIsHere("alice", After: "dave", Limit: 2));
        Assert.That(last.Online.Select(e => e.User), Is.EqualTo(new[] { "erin" }));
        Assert.That(last.Next, Is.Null);

        var between = await WhoAsync(room, new WhoIsHere("alice", After: "bz", Limit: 10));
        Assert.That(between.Online.Select(e => e.User), Is.EqualTo(new[] { "carol", "dave", "erin" }), "a cursor need not be a member");
    }

    [Test]
    public async Task A_tick_that_finds_the_mailbox_full_is_posted_on_the_next_one()
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var held = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var messages = Substitute.For<IMessageStore>();
        messages.LastRoomIdAsync(default!, default).ReturnsForAnyArgs(ValueTask.FromResult(0L));
        async ValueTask<Task<long>> QueueLateAsync(string lobby, RoomBatch batch)
        {
            held.TrySetResult();
            await release.Task;
            return Task.FromResult(await store.AppendRoomMessagesAsync(lobby, batch.Close(), CancellationToken.None));
        }

        messages.QueueRoomBatchAsync(default!, default!, default, default).ReturnsForAnyArgs(call => QueueLateAsync(call.ArgAt<string>(0), call.ArgAt<RoomBatch>(1)));
        await supervisor.Started.WaitAsync(Timeout);
        await ((IRoomStore)store).TryCreateAsync("lobby", CancellationToken.None);
        var room = new RoomProcess("lobby", 8, store, messages, _ => null, clock, new InProcessChatBus(), presence) { PresenceTick = Tick };
        Assert.That(supervisor.TryStartChild(room, RestartKind.Permanent), Is.True);
        var aliceBox = new RecordingOutbox();
        await JoinAsync(room, Online("alice", aliceBox));
        await SettledAsync(room);
        aliceBox.Drain();

        // Bob's appearance waits for the tick, and the tick finds the mailbox full: the loop is held by a post whose
        // commit does not return, and typing notices fill the rest.
        await JoinAsync(room, Online("bob", new RecordingOutbox()));
        var post = new PostToRoom("alice", "held");
        Assert.That(room.TryPost(post), Is.EqualTo(PostResult.Accepted));

        // The loop must have taken the post out of the mailbox before the typing notices fill it.
        await held.Task.WaitAsync(Timeout);
        for (var i = 0; i < 100 && room.TryPost(new TypingInRoom("alice")) == PostResult.Accepted; i++)
        {
        }

        Assert.That(room.TryPost(new TypingInRoom("alice")), Is.EqualTo(PostResult.MailboxFull));
        clock.Advance(Tick);
        release.SetResult();
        await post.Reply.Task.WaitAsync(Timeout);
        await SettledAsync(room);
        Assert.That(aliceBox.Drain().OfType<PresenceDiff>(), Is.Empty, "the tick was lost to the full mailbox");

        clock.Advance(Tick);
        var diff = await aliceBox.NextAsync<PresenceDiff>();
        Assert.That(diff.Joins.Select(e => e.User), Is.EqualTo(new[] { "bob" }), "the next tick announced it");
    }
}
