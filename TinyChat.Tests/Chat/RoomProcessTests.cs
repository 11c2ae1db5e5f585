using Microsoft.Extensions.Logging.Abstractions;
using NSubstitute;
using TinyChat.Chat;
using TinyChat.Runtime;
using TinyChat.Storage.InMemory;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Chat;

/// <summary>Process tests of one room loop under a real supervisor.</summary>
public sealed class RoomProcessTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
    private CancellationTokenSource stop = null!;
    private Supervisor supervisor = null!;
    private Task running = null!;
    private InProcessChatBus bus = null!;
    private InProcessPresence presence = null!;
    private ManualClock clock = null!;

    [SetUp]
    public void StartSupervisor()
    {
        bus = new InProcessChatBus();
        presence = new InProcessPresence();
        clock = new ManualClock(T0);
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

    private async Task<RoomProcess> StartRoomAsync(IRoomStore rooms, IMessageStore messages, Func<string, UserEndpoint?>? online = null)
    {
        await supervisor.Started.WaitAsync(Timeout);
        await rooms.TryCreateAsync("lobby", CancellationToken.None);
        var room = new RoomProcess("lobby", 64, rooms, messages, online ?? (_ => null), clock, bus, presence);
        Assert.That(supervisor.TryStartChild(room, RestartKind.Permanent), Is.True);
        return room;
    }

    private static async Task<ChatError?> JoinAsync(RoomProcess room, UserEndpoint endpoint)
    {
        var join = new JoinRoom(endpoint.User, endpoint);
        return await room.AskAsync(join, join.Reply, CancellationToken.None).WaitAsync(Timeout);
    }

    private static async Task<Outcome<long>> PostAsync(RoomProcess room, string user, string text)
    {
        var post = new PostToRoom(user, text);
        return await room.AskAsync(post, post.Reply, CancellationToken.None).WaitAsync(Timeout);
    }

    private UserEndpoint Online(string user, IOutbox outbox)
    {
        var endpoint = new UserEndpoint(user, clock.GetUtcNow(), presence);
        endpoint.Attach(outbox);
        return endpoint;
    }

    [Test]
    public async Task A_store_outage_refuses_the_batch_and_the_room_carries_on_without_a_restart()
    {
        var store = new InMemoryStore();
        var messages = Substitute.For<IMessageStore>().QueuingThroughAppend();
        var outage = true;
        messages.AppendRoomMessagesAsync(default!, default!, default).ReturnsForAnyArgs(call => outage
            ? throw new StoreUnavailableException("the database is unreachable")
            : store.AppendRoomMessagesAsync(call.ArgAt<string>(0), call.ArgAt<IReadOnlyList<NewRoomMessage>>(1), call.ArgAt<CancellationToken>(2)));
        var room = await StartRoomAsync(store, messages);
        var aliceBox = new RecordingOutbox();
        Assert.That(await JoinAsync(room, Online("alice", aliceBox)), Is.Null);

        Assert.ThrowsAsync<StoreUnavailableException>(() => PostAsync(room, "alice", "lost"));
        outage = false;

        Assert.That((await PostAsync(room, "alice", "kept")).Value, Is.EqualTo(1));
        Assert.That(supervisor.Statistics.TotalRestarts, Is.Zero, "an outage is no fault of the loop");
        Assert.That(aliceBox.Drain().OfType<RoomMessage>().Select(m => m.Text), Is.EqualTo(new[] { "kept" }), "nothing unstored was delivered");
    }

    [Test]
    public async Task A_room_starting_during_an_outage_waits_for_the_store_instead_of_burning_restarts()
    {
        var store = new InMemoryStore();
        await supervisor.Started.WaitAsync(Timeout);
        await ((IRoomStore)store).TryCreateAsync("lobby", CancellationToken.None);
        await ((IRoomStore)store).AddMemberAsync("lobby", "alice", CancellationToken.None);
        var rooms = Substitute.For<IRoomStore>();
        var calls = 0;
        var answered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        rooms.MembersAsync(default!, default).ReturnsForAnyArgs(call =>
        {
            if (Interlocked.Increment(ref calls) <= 3)
            {
                throw new StoreUnavailableException("the database is unreachable");
            }

            answered.TrySetResult();
            return ((IRoomStore)store).MembersAsync(call.ArgAt<string>(0), call.ArgAt<CancellationToken>(1));
        });

        // More failed starts than the restart budget (3) allows: a restart per failure would escalate.
        var room = new RoomProcess("lobby", 64, rooms, store, _ => null, TimeProvider.System, bus, presence);
        Assert.That(supervisor.TryStartChild(room, RestartKind.Permanent), Is.True);
        await answered.Task.WaitAsync(Timeout);

        var who = new WhoIsHere("alice");
        Assert.That((await room.AskAsync(who, who.Reply, CancellationToken.None).WaitAsync(Timeout)).IsOk, Is.True, "alice's membership was loaded");
        Assert.That(supervisor.Statistics.TotalRestarts, Is.Zero);
        Assert.That(running.IsCompleted, Is.False, "the supervisor did not escalate");
    }

    [Test]
    public async Task Members_receive_posts_in_sequence_and_the_same_event_object()
    {
        var store = new InMemoryStore();
        var room = await StartRoomAsync(store, store);
        var aliceBox = new RecordingOutbox();
        var bobBox = new RecordingOutbox();
        Assert.That(await JoinAsync(room, Online("alice", aliceBox)), Is.Null);
        Assert.That(await JoinAsync(room, Online("bob", bobBox)), Is.Null);

        Assert.That((await PostAsync(room, "alice", "one")).Value, Is.EqualTo(1));
        Assert.That((await PostAsync(room, "bob", "two")).Value, Is.EqualTo(2));

        var a1 = await aliceBox.NextAsync<RoomMessage>();
        var b1 = await bobBox.NextAsync<RoomMessage>();
        Assert.That(a1, Is.SameAs(b1), "one event object (and so one encoding) for every recipient");
        Assert.That((a1.Id, a1.From, a1.Text), Is.EqualTo((1L, "alice", "one")));
        Assert.That((await aliceBox.NextAsync<RoomMessage>()).Id, Is.EqualTo(2));
    }

    [Test]
    public async Task Double_join_and_posting_without_membership_are_refused()
    {
        var store = new InMemoryStore();
        var room = await StartRoomAsync(store, store);
        var alice = Online("alice", new RecordingOutbox());
        Assert.That(await JoinAsync(room, alice), Is.Null);
        Assert.That((await JoinAsync(room, alice))!.Code, Is.EqualTo("already_joined"));
        Assert.That((await PostAsync(room, "mallory", "hi")).Error!.Code, Is.EqualTo("not_a_member"));
    }

    [Test]
    public async Task A_join_with_a_greeting_queues_the_welcome_then_the_greeting_before_any_later_presence_change()
    {
        var store = new InMemoryStore();
        var room = await StartRoomAsync(store, store);
        Assert.That(await JoinAsync(room, Online("alice", new RecordingOutbox())), Is.Null);

        var bobBox = new RecordingOutbox();
        RoomDetails? welcomed = null;
        IReadOnlyList<ChatEvent>? beforeWelcome = null;
        var join = new JoinRoom("bob", Online("bob", bobBox), new JoinGreeting(bobBox, details =>
        {
            welcomed = details;
            beforeWelcome = bobBox.Drain();
        }));
        Assert.That(await room.AskAsync(join, join.Reply, CancellationToken.None).WaitAsync(Timeout), Is.Null);

        Assert.That(welcomed, Is.Not.Null, "the room ran the welcome before it replied");
        Assert.That((welcomed!.Room, welcomed.IsPrivate, welcomed.YourRole), Is.EqualTo(("lobby", false, RoomRole.Member)));
        Assert.That(beforeWelcome!.OfType<PresenceState>(), Is.Empty, "nothing of the room's presence before the welcome");

        // Bob's own appearance is announced after the join: it comes behind the greeting, which lists him already.
        var after = new List<ChatEvent>();
        while (after.Count < 10 && !after.OfType<PresenceDiff>().Any())
        {
            after.Add(await bobBox.NextAsync<ChatEvent>());
        }

        Assert.That(after[0], Is.InstanceOf<PresenceState>(), "the greeting right after the welcome: " + string.Join(", ", after));
        Assert.That(((PresenceState)after[0]).Online.Select(e => e.User), Is.EqualTo(new[] { "alice", "bob" }));
        Assert.That(after.OfType<PresenceDiff>().Single().Joins.Select(e => e.User), Is.EqualTo(new[] { "bob" }), "the diff follows it");
    }

    [Test]
    public async Task A_refused_join_shows_nothing_and_joining_as_a_member_again_writes_nothing()
    {
        var store = new InMemoryStore();
        await ((IRoomStore)store).TryCreateAsync("lobby", CancellationToken.None);
        var rooms = Substitute.For<IRoomStore>();
        var writes = 0;
        rooms.MembersAsync(default!, default).ReturnsForAnyArgs(call => ((IRoomStore)store).MembersAsync(call.ArgAt<string>(0), call.ArgAt<CancellationToken>(1)));
        rooms.AddMembersAsync(default!, default!, default).ReturnsForAnyArgs(call =>
        {
            Interlocked.Increment(ref writes);
            return ((IRoomStore)store).AddMembersAsync(call.ArgAt<string>(0), call.ArgAt<IReadOnlyList<string>>(1), call.ArgAt<CancellationToken>(2));
        });
        var room = await StartRoomAsync(rooms, store);
        var aliceBox = new RecordingOutbox();
        var alice = Online("alice", aliceBox);
        Assert.That(await JoinAsync(room, alice), Is.Null);
        Assert.That(writes, Is.EqualTo(1));

        var welcomed = false;
        var again = new JoinRoom("alice", alice, new JoinGreeting(aliceBox, _ => welcomed = true));
        Assert.That((await room.AskAsync(again, again.Reply, CancellationToken.None).WaitAsync(Timeout))!.Code, Is.EqualTo("already_joined"));
        Assert.That(writes, Is.EqualTo(1), "a member joining again costs no store write");
        Assert.That(welcomed, Is.False, "a refused join is not welcomed");
        Assert.That(aliceBox.Drain().OfType<PresenceState>(), Is.Empty, "nor greeted");
    }

    [Test]
    public async Task An_offline_member_gets_nothing_and_a_member_coming_online_gets_later_posts()
    {
        var store = new InMemoryStore();
        var room = await StartRoomAsync(store, store);
        var box = new RecordingOutbox();
        var bob = Online("bob", box);
        Assert.That(await JoinAsync(room, bob), Is.Null);
        room.TryPost(new MemberOffline("bob", bob));
        await PostAsync(room, "bob", "while away");
        Assert.That(box.HasNoMessages, Is.True);

        room.TryPost(new MemberOnline("bob", bob));
        await PostAsync(room, "bob", "back");
        Assert.That((await box.NextAsync<RoomMessage>()).Text, Is.EqualTo("back"));
    }

    [Test]
    public async Task A_failed_write_fails_the_batch_broadcasts_nothing_and_the_restarted_room_takes_its_ids_from_the_store()
    {
        var store = new InMemoryStore();
        var messages = Substitute.For<IMessageStore>().QueuingThroughAppend();
        messages.AppendRoomMessagesAsync("lobby", Arg.Any<IReadOnlyList<NewRoomMessage>>(), Arg.Any<CancellationToken>())
            .Returns(ValueTask.FromException<long>(new IOException("disk full")), ValueTask.FromResult(42L));
        var box = new RecordingOutbox();
        var alice = Online("alice", box);
        var room = await StartRoomAsync(store, messages, user => user == "alice" ? alice : null);
        Assert.That(await JoinAsync(room, alice), Is.Null);

        var failed = new PostToRoom("alice", "lost?");
        room.TryPost(failed);
        Assert.ThrowsAsync<IOException>(async () => await failed.Reply.Task.WaitAsync(Timeout));
        Assert.That(box.HasNoMessages, Is.True, "nothing is visible before it is durable");

        // The id is the one the store assigned in the commit, whatever the room saw before.
        var after = await PostAsync(room, "alice", "durable");
        Assert.That(after.Value, Is.EqualTo(42));
        Assert.That((await box.NextAsync<RoomMessage>()).Id, Is.EqualTo(42));
        Assert.That(supervisor.Statistics.TotalRestarts, Is.EqualTo(1));
    }

    [Test]
    public async Task Posts_queued_behind_a_slow_write_are_committed_together()
    {
        var store = new InMemoryStore();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var batches = new List<int>();
        var messages = Substitute.For<IMessageStore>().QueuingThroughAppend();
        messages.AppendRoomMessagesAsync("lobby", Arg.Any<IReadOnlyList<NewRoomMessage>>(), Arg.Any<CancellationToken>())
            .Returns(call =>
            {
                long first;
                lock (batches)
                {
                    first = batches.Sum() + 1;
                    batches.Add(call.Arg<IReadOnlyList<NewRoomMessage>>().Count);
                }

                return new ValueTask<long>(gate.Task.ContinueWith(_ => first, TaskScheduler.Default));
            });
        var room = await StartRoomAsync(store, messages);
        Assert.That(await JoinAsync(room, Online("alice", new RecordingOutbox())), Is.Null);

        var posts = Enumerable.Range(0, 10).Select(i => new PostToRoom("alice", $"m{i}")).ToList();
        foreach (var post in posts)
        {
            room.TryPost(post);
        }

        gate.SetResult();
        var ids = await Task.WhenAll(posts.Select(p => p.Reply.Task.WaitAsync(Timeout)));
        Assert.That(ids.Select(o => o.Value), Is.EqualTo(Enumerable.Range(1, 10).Select(i => (long)i)));
        Assert.That(batches.Count, Is.LessThan(10), "later posts rode along with an earlier commit");
        Assert.That(batches.Sum(), Is.EqualTo(10));
    }

    [Test]
    public async Task A_restarted_room_remembers_its_members_from_the_store_and_finds_them_online()
    {
        var store = new InMemoryStore();
        var box = new RecordingOutbox();
        var alice = Online("alice", box);
        var room = await StartRoomAsync(store, store, user => user == "alice" ? alice : null);
        Assert.That(await JoinAsync(room, alice), Is.Null);

        room.Kill();
        Assert.That((await PostAsync(room, "alice", "after restart")).IsOk, Is.True);
        Assert.That((await box.NextAsync<RoomMessage>()).Text, Is.EqualTo("after restart"));
    }

    [Test]
    public async Task A_crowd_joining_at_once_is_written_together_greeted_and_announced_in_few_diffs()
    {
        var store = new InMemoryStore();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var rooms = Substitute.For<IRoomStore>();
        var writes = new System.Collections.Concurrent.ConcurrentQueue<IReadOnlyList<string>>();
        rooms.TryCreateAsync(Arg.Any<string>(), Arg.Any<CancellationToken>()).Returns(ValueTask.FromResult(true));
        rooms.MembersAsync(Arg.Any<string>(), Arg.Any<CancellationToken>()).Returns(ValueTask.FromResult<IReadOnlyList<string>>([]));
        rooms.AddMembersAsync(Arg.Any<string>(), Arg.Any<IReadOnlyList<string>>(), Arg.Any<CancellationToken>()).Returns(call =>
        {
            var users = call.Arg<IReadOnlyList<string>>();
            writes.Enqueue(users);
            return new ValueTask<bool[]>(gate.Task.ContinueWith(_ => users.Select(_ => true).ToArray(), TaskScheduler.Default));
        });
        var room = await StartRoomAsync(rooms, store);
        var watcherBox = new RecordingOutbox();
        var boxes = Enumerable.Range(0, 20).Select(i => i == 0 ? watcherBox : new RecordingOutbox()).ToList();
        var welcomed = new bool[20];
        var crowd = Enumerable.Range(0, 20)
            .Select(i => new JoinRoom($"u{i}", Online($"u{i}", boxes[i]), new JoinGreeting(boxes[i], _ => welcomed[i] = true)))
            .ToList();
        foreach (var join in crowd)
        {
            Assert.That(room.TryPost(join), Is.EqualTo(PostResult.Accepted));
        }

        gate.SetResult();
        var replies = await Task.WhenAll(crowd.Select(j => j.Reply.Task.WaitAsync(Timeout)));
        Assert.That(replies, Is.All.Null);
        Assert.That(writes.SelectMany(w => w), Is.EquivalentTo(crowd.Select(j => j.User)), "every membership written once");
        Assert.That(writes, Has.Count.LessThan(20), "joins queued together are written in one call");
        Assert.That(welcomed, Is.All.True);
        for (var i = 1; i < 20; i++)
        {
            // Each joiner's greeting lists at least itself and everyone who joined before it.
            var greeting = await boxes[i].NextAsync<PresenceState>();
            Assert.That(greeting.Online.Select(e => e.User), Is.SupersetOf(Enumerable.Range(0, i + 1).Select(n => $"u{n}")), $"u{i}'s greeting");
        }

        // The room announces after it has answered the joins: await the diffs rather than read what has arrived.
        var diffs = new List<PresenceDiff>();
        while (diffs.Sum(d => d.Joins.Count) < 20 && diffs.Count < 20)
        {
            diffs.Add(await watcherBox.NextAsync<PresenceDiff>());
        }

        Assert.That(diffs.Sum(d => d.Joins.Count), Is.EqualTo(20), "every joiner announced once");
        Assert.That(diffs.Count, Is.LessThan(20), "joins queued together share a diff");
        Assert.That(watcherBox.Drain().OfType<PresenceDiff>(), Is.Empty, "and nobody twice");
    }

    [Test]
    public async Task Nothing_is_published_before_the_commit_and_each_committed_batch_is_published_once()
    {
        var store = new InMemoryStore();
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstAppend = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var appends = 0;
        var next = 1L;
        var messages = Substitute.For<IMessageStore>().QueuingThroughAppend();
        messages.AppendRoomMessagesAsync("lobby", Arg.Any<IReadOnlyList<NewRoomMessage>>(), Arg.Any<CancellationToken>())
            .Returns(call =>
            {
                var first = next;
                next += call.Arg<IReadOnlyList<NewRoomMessage>>().Count;
                appends++;
                firstAppend.TrySetResult();
                return new ValueTask<long>(gate.Task.ContinueWith(_ => first, TaskScheduler.Default));
            });
        var published = new RecordingSubscriber();
        bus.Subscribe(ChatTopic.Room("lobby"), published);
        var box = new RecordingOutbox();
        var room = await StartRoomAsync(store, messages);
        Assert.That(await JoinAsync(room, Online("alice", box)), Is.Null);

        var posts = Enumerable.Range(0, 10).Select(i => new PostToRoom("alice", $"m{i}")).ToList();
        foreach (var post in posts)
        {
            room.TryPost(post);
        }

        await firstAppend.Task.WaitAsync(Timeout);
        Assert.That(published.Received.OfType<CommittedMessages>(), Is.Empty, "durable before visible: no batch on the bus while the commit is pending");
        Assert.That(box.HasNoMessages, Is.True);

        gate.SetResult();
        var ids = await Task.WhenAll(posts.Select(p => p.Reply.Task.WaitAsync(Timeout)));
        Assert.That(ids.Select(o => o.Value), Is.EqualTo(Enumerable.Range(1, 10).Select(i => (long)i)), "the ids the store handed out, in post order");
        var batches = published.Received.OfType<CommittedMessages>().ToList();
        Assert.That(batches, Has.Count.EqualTo(appends), "one publication per commit");
        Assert.That(batches.SelectMany(b => b.Messages).Select(m => (m.Id, m.Text)), Is.EqualTo(Enumerable.Range(0, 10).Select(i => (i + 1L, $"m{i}"))));
        var delivered = box.Drain().OfType<RoomMessage>().ToList();
        Assert.That(delivered, Is.EqualTo(batches.SelectMany(b => b.Messages)).Using<RoomMessage>(ReferenceEquals), "members get the published event objects");
    }

    [Test]
    public async Task Events_another_node_publishes_on_the_room_topic_reach_the_members_here_through_the_mailbox()
    {
        var store = new InMemoryStore();
        var aliceBox = new RecordingOutbox();
        var bobBox = new RecordingOutbox();
        var room = await StartRoomAsync(store, store);
        Assert.That(await JoinAsync(room, Online("alice", aliceBox)), Is.Null);
        Assert.That(await JoinAsync(room, Online("bob", bobBox)), Is.Null);

        var remote = new RoomMessage("lobby", "carol", "from node b", 7, T0);
        bus.Publish(ChatTopic.Room("lobby"), new CommittedMessages("lobby", [remote]));
        bus.Publish(ChatTopic.Room("lobby"), new ChatBusEvent(new TypingNotice("alice", "lobby", null)));

        Assert.That(await aliceBox.NextAsync<RoomMessage>(), Is.SameAs(remote));
        Assert.That(await bobBox.NextAsync<RoomMessage>(), Is.SameAs(remote));
        Assert.That((await bobBox.NextAsync<TypingNotice>()).User, Is.EqualTo("alice"));

        // The mailbox is FIFO: once this answer is back, the typing notice has been handled for alice too.
        await AskWhoAsync(room, "alice");
        Assert.That(aliceBox.Drain().OfType<TypingNotice>(), Is.Empty, "the typist does not hear herself");
    }

    [Test]
    public async Task Typing_in_a_room_reaches_the_others_at_most_once_a_second_per_typist()
    {
        var store = new InMemoryStore();
        var bobBox = new RecordingOutbox();
        var room = await StartRoomAsync(store, store);
        Assert.That(await JoinAsync(room, Online("alice", new RecordingOutbox())), Is.Null);
        Assert.That(await JoinAsync(room, Online("bob", bobBox)), Is.Null);

        room.TryPost(new TypingInRoom("alice"));
        room.TryPost(new TypingInRoom("alice"));
        await AskWhoAsync(room, "bob");
        clock.Advance(TimeSpan.FromMilliseconds(999));
        room.TryPost(new TypingInRoom("alice"));
        await AskWhoAsync(room, "bob");
        Assert.That(bobBox.Drain().OfType<TypingNotice>().Count(), Is.EqualTo(1));

        clock.Advance(TimeSpan.FromMilliseconds(1));
        room.TryPost(new TypingInRoom("alice"));
        await AskWhoAsync(room, "bob");
        Assert.That(bobBox.Drain().OfType<TypingNotice>().Select(t => (t.User, t.Room)), Is.EqualTo(new[] { ("alice", (string?)"lobby") }));
    }

    [Test]
    public async Task Presence_state_merges_every_nodes_rows_for_the_members()
    {
        var store = new InMemoryStore();
        var room = await StartRoomAsync(store, store);
        var aliceBox = new RecordingOutbox();
        var alice = Online("alice", aliceBox);
        var bobBox = new RecordingOutbox();
        var bob = Online("bob", bobBox);
        var carol = Online("carol", new RecordingOutbox());
        Assert.That(await JoinAsync(room, alice), Is.Null);
        Assert.That(await JoinAsync(room, bob), Is.Null);
        Assert.That(await JoinAsync(room, carol), Is.Null);

        // bob leaves this node but has two tabs on node b; alice has one tab here and two on node b, opened earlier.
        bob.Detach(bobBox);
        room.TryPost(new MemberOffline("bob", bob));
        presence.Apply(new NodePresence("node-b", "bob", T0.AddMinutes(3), 2));
        presence.Apply(new NodePresence("node-b", "alice", T0.AddMinutes(-5), 2));
        presence.Apply(new NodePresence("node-b", "mallory", T0, 1));

        var state = await AskWhoAsync(room, "alice");
        Assert.That(state.Online.Select(e => (e.User, e.OnlineAt, e.Connections)), Is.EqualTo(new[]
        {
            ("alice", T0.AddMinutes(-5), 3),
            ("bob", T0.AddMinutes(3), 2),
            ("carol", T0, 1),
        }), "members only, each once, connections added up, online since the earliest node");
        Assert.That(state.Online.Select(e => e.Named.Count), Is.EqualTo(new[] { 1, 0, 1 }), "only this node's connections are known by name");

        presence.Apply(new NodePresence("node-b", "bob", T0.AddMinutes(3), 0));
        Assert.That((await AskWhoAsync(room, "alice")).Online.Select(e => e.User), Is.EqualTo(new[] { "alice", "carol" }));
    }

    private static async Task<long> CommitElsewhereAsync(InMemoryStore store, params string[] texts)
    {
        // Another node's room commits: the store assigns the ids; nothing is published here.
        return await store.AppendRoomMessagesAsync("lobby", [.. texts.Select(t => new NewRoomMessage("carol", t, T0))], CancellationToken.None);
    }

    private static async Task<List<long>> IdsAsync(RecordingOutbox box, int count)
    {
        var ids = new List<long>();
        while (ids.Count < count)
        {
            ids.Add((await box.NextAsync<RoomMessage>()).Id);
        }

        return ids;
    }

    [Test]
    public async Task A_batch_after_a_lost_notification_is_preceded_by_the_gap_read_from_the_store_and_nothing_comes_twice()
    {
        var store = new InMemoryStore();
        var box = new RecordingOutbox();
        var room = await StartRoomAsync(store, store);
        Assert.That(await JoinAsync(room, Online("alice", box)), Is.Null);

        var lost = await CommitElsewhereAsync(store, "one", "two");
        var next = await CommitElsewhereAsync(store, "three");
        bus.Publish(ChatTopic.Room("lobby"), new CommittedMessages("lobby", (await store.RoomHistoryAsync("lobby", new HistoryQuery(null, next - 1, 10), CancellationToken.None)).ToList()));
        Assert.That(await IdsAsync(box, 3), Is.EqualTo(new[] { lost, lost + 1, next }));

        // The lost notification turns up late; then this node posts.
        bus.Publish(ChatTopic.Room("lobby"), new CommittedMessages("lobby", (await store.RoomHistoryAsync("lobby", new HistoryQuery(null, 0, 2), CancellationToken.None)).ToList()));
        Assert.That((await PostAsync(room, "alice", "four")).Value, Is.EqualTo(next + 1));
        Assert.That(await IdsAsync(box, 1), Is.EqualTo(new[] { next + 1 }), "ids 1 and 2 were not delivered again");
    }

    [Test]
    public async Task A_post_committed_after_another_nodes_batch_delivers_that_batch_first()
    {
        var store = new InMemoryStore();
        var box = new RecordingOutbox();
        var room = await StartRoomAsync(store, store);
        Assert.That(await JoinAsync(room, Online("alice", box)), Is.Null);

        var elsewhere = await CommitElsewhereAsync(store, "from b");
        var mine = (await PostAsync(room, "alice", "from a")).Value;

        Assert.That(mine, Is.EqualTo(elsewhere + 1));
        Assert.That(await IdsAsync(box, 2), Is.EqualTo(new[] { elsewhere, mine }));
        bus.Publish(ChatTopic.Room("lobby"), new CommittedMessages("lobby", [new RoomMessage("lobby", "carol", "from b", elsewhere, T0)]));
        Assert.That((await PostAsync(room, "alice", "again")).Value, Is.EqualTo(mine + 1));
        Assert.That(await IdsAsync(box, 1), Is.EqualTo(new[] { mine + 1 }), "b's late notification was not delivered again");
    }

    [Test]
    public async Task When_the_bus_resumes_the_room_reads_everything_it_missed_once()
    {
        var store = new InMemoryStore();
        var box = new RecordingOutbox();
        var room = await StartRoomAsync(store, store);
        Assert.That(await JoinAsync(room, Online("alice", box)), Is.Null);
        var texts = Enumerable.Range(0, 1200).Select(i => $"m{i}").ToArray();
        var first = await CommitElsewhereAsync(store, texts);

        bus.Publish(ChatTopic.Room("lobby"), BusResumed.Instance);
        bus.Publish(ChatTopic.Room("lobby"), BusResumed.Instance);

        Assert.That(await IdsAsync(box, 1200), Is.EqualTo(Enumerable.Range(0, 1200).Select(i => first + i)), "in pages, in order");
        Assert.That((await PostAsync(room, "alice", "after")).Value, Is.EqualTo(first + 1200));
        Assert.That(await IdsAsync(box, 1), Is.EqualTo(new[] { first + 1200 }));
    }

    [Test]
    public async Task Members_who_joined_on_another_node_are_known_and_shown_at_once()
    {
        var store = new InMemoryStore();
        var box = new RecordingOutbox();
        var room = await StartRoomAsync(store, store);
        Assert.That(await JoinAsync(room, Online("alice", box)), Is.Null);

        // bob is online on node b and joins there; the notice comes over the bus.
        presence.Apply(new NodePresence("node-b", "bob", T0, 1));
        await store.AddMemberAsync("lobby", "bob", CancellationToken.None);
        bus.Publish(ChatTopic.Room("lobby"), new MembershipChanged("lobby", ["bob"], []));
        var joined = await box.NextAsync<PresenceDiff>();
        while (!joined.Joins.Any(e => e.User == "bob"))
        {
            joined = await box.NextAsync<PresenceDiff>();
        }

        // carol joined on node b too, but her notice is late: her post here still goes through.
        await store.AddMemberAsync("lobby", "carol", CancellationToken.None);
        Assert.That((await PostAsync(room, "carol", "hi")).IsOk, Is.True);

        bus.Publish(ChatTopic.Room("lobby"), new MembershipChanged("lobby", [], ["bob"]));
        var left = await box.NextAsync<PresenceDiff>();
        Assert.That(left.Leaves.Select(e => e.User), Is.EqualTo(new[] { "bob" }));
        Assert.That((await AskWhoAsync(room, "alice")).Online.Select(e => e.User), Is.EqualTo(new[] { "alice" }));
    }

    private static async Task<PresenceState> AskWhoAsync(RoomProcess room, string user)
    {
        var who = new WhoIsHere(user);
        return (await room.AskAsync(who, who.Reply, CancellationToken.None).WaitAsync(Timeout)).Value!;
    }
}
