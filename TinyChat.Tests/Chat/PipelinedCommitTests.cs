using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using NSubstitute;
using TinyChat.Chat;
using TinyChat.Runtime;
using TinyChat.Storage.InMemory;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Chat;

/// <summary>
/// A room hands its next batch to the store while the previous one is being written, and still shows nothing before
/// it is durable and nothing out of order. The store double completes each handed batch by hand.
/// </summary>
public sealed class PipelinedCommitTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 9, 0, 0, TimeSpan.Zero);
    private readonly Channel<Handed> handed = Channel.CreateUnbounded<Handed>();
    private CancellationTokenSource stop = null!;
    private Supervisor supervisor = null!;
    private Task running = null!;
    private InProcessChatBus bus = null!;
    private InProcessPresence presence = null!;
    private RecordingSubscriber published = null!;

    // Whether the store double closes each batch the moment it is handed over (a store that starts writing it at
    // once); when not, the test closes it by hand, as a store's writer does when it reaches the batch.
    private bool closesAtOnce = true;

    // Whether a commit resumes the room on the thread that completes it (as SQLite's writer does), instead of on a
    // pool worker.
    private bool resumesOnStoreThread;

    /// <summary>A batch the room handed to the store, the batch it was queued behind, and its commit (by hand).</summary>
    private sealed record Handed(RoomBatch Batch, Task<long>? After, TaskCompletionSource<long> Commit)
    {
        /// <summary>The thread the room handed the batch over on.</summary>
        public Thread HandedOn { get; } = Thread.CurrentThread;

        /// <summary>What the batch holds, closing it (as the store does when it writes it).</summary>
        public IReadOnlyList<NewRoomMessage> Records => Batch.Close();
    }

    [SetUp]
    public void StartSupervisor()
    {
        closesAtOnce = true;
        bus = new InProcessChatBus();
        presence = new InProcessPresence();
        published = new RecordingSubscriber();
        bus.Subscribe(ChatTopic.Room("lobby"), published);
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

    private async Task<RoomProcess> StartRoomAsync(UserEndpoint alice, int commitsInFlight = 2)
    {
        var store = new InMemoryStore();
        var messages = Substitute.For<IMessageStore>();
        messages.QueueRoomBatchAsync(default!, default!, default, default).ReturnsForAnyArgs(call =>
        {
            var batch = new Handed(
                call.ArgAt<RoomBatch>(1),
                call.ArgAt<Task<long>?>(2),
                new TaskCompletionSource<long>(resumesOnStoreThread ? TaskCreationOptions.None : TaskCreationOptions.RunContinuationsAsynchronously));
            if (closesAtOnce)
            {
                batch.Batch.Close();
            }

            handed.Writer.TryWrite(batch);
            return ValueTask.FromResult(batch.Commit.Task);
        });
        await supervisor.Started.WaitAsync(Timeout);
        await ((IRoomStore)store).TryCreateAsync("lobby", CancellationToken.None);
        var room = new RoomProcess("lobby", 64, store, messages, user => user == "alice" ? alice : null, TimeProvider.System, bus, presence) { CommitsInFlight = commitsInFlight };
        Assert.That(supervisor.TryStartChild(room, RestartKind.Permanent), Is.True);
        var join = new JoinRoom("alice", alice);
        Assert.That(await room.AskAsync(join, join.Reply, CancellationToken.None).WaitAsync(Timeout), Is.Null);
        return room;
    }

    private UserEndpoint Online(IOutbox outbox)
    {
        var endpoint = new UserEndpoint("alice", T0, presence);
        endpoint.Attach(outbox);
        return endpoint;
    }

    private async Task<Handed> NextHandedAsync() => await handed.Reader.ReadAsync().AsTask().WaitAsync(Timeout);

    private static PostToRoom Post(RoomProcess room, string text)
    {
        var post = new PostToRoom("alice", text);
        Assert.That(room.TryPost(post), Is.EqualTo(PostResult.Accepted));
        return post;
    }

    [Test]
    public async Task The_next_batch_goes_to_the_store_while_the_first_is_written_and_is_shown_and_acknowledged_only_after_it()
    {
        PostToRoom? one = null;
        PostToRoom? two = null;
        var seen = new List<string>();
        var box = new WatchingOutbox(e =>
        {
            if (e is RoomMessage m)
            {
                seen.Add($"{m.Text} delivered; one acknowledged: {one!.Reply.Task.IsCompleted}, two acknowledged: {two!.Reply.Task.IsCompleted}");
            }
        });
        var room = await StartRoomAsync(Online(box));

        one = Post(room, "one");
        var first = await NextHandedAsync();
        two = Post(room, "two");
        var second = await NextHandedAsync();

        Assert.That(first.Records.Select(r => r.Text), Is.EqualTo(new[] { "one" }));
        Assert.That(second.Records.Select(r => r.Text), Is.EqualTo(new[] { "two" }));
        Assert.That(first.Commit.Task.IsCompleted, Is.False, "the second batch was handed over while the first was still being written");
        Assert.That(second.After, Is.SameAs(first.Commit.Task), "queued behind the first, so the store commits them in order");

        // The store finishes the second batch first (a store would not; the room must not care): nothing of it shows.
        second.Commit.SetResult(2);
        var third = Post(room, "three");
        Assert.That(box.Delivered, Is.Empty);
        Assert.That((one.Reply.Task.IsCompleted, two.Reply.Task.IsCompleted, third.Reply.Task.IsCompleted), Is.EqualTo((false, false, false)));
        Assert.That(published.Received.OfType<CommittedMessages>(), Is.Empty, "durable before visible");

        first.Commit.SetResult(1);
        Assert.That((await one.Reply.Task.WaitAsync(Timeout)).Value, Is.EqualTo(1));
        Assert.That((await two.Reply.Task.WaitAsync(Timeout)).Value, Is.EqualTo(2));
        Assert.That(seen, Is.EqualTo(new[]
        {
            "one delivered; one acknowledged: False, two acknowledged: False",
            "two delivered; one acknowledged: True, two acknowledged: False",
        }));
        Assert.That(published.Received.OfType<CommittedMessages>().Select(b => b.Messages[0].Id), Is.EqualTo(new[] { 1L, 2L }), "published in id order, once each");

        // The third post, which waited while two batches were at the store, goes behind the second.
        var last = await NextHandedAsync();
        Assert.That(last.Records.Select(r => r.Text), Is.EqualTo(new[] { "three" }));
        last.Commit.SetResult(3);
        Assert.That((await third.Reply.Task.WaitAsync(Timeout)).Value, Is.EqualTo(3));
        Assert.That(box.Delivered.Select(m => m.Id), Is.EqualTo(new[] { 1L, 2L, 3L }));
    }

    [Test]
    public async Task A_commit_that_resumes_the_room_on_the_stores_thread_gets_the_batch_delivered_and_the_room_back_on_the_pool()
    {
        resumesOnStoreThread = true;
        var box = new WatchingOutbox(_ => { });
        var room = await StartRoomAsync(Online(box), commitsInFlight: 1);

        // Each round: the room waits for its batch's commit with the next post queued behind it. Whether the commit
        // meets the room already waiting is up to the threads, so several rounds are run: a room that stayed on the
        // store's thread would form the next batch there in most of them.
        for (var round = 0; round < 5; round++)
        {
            var one = Post(room, $"one {round}");
            var first = await NextHandedAsync();
            var two = Post(room, $"two {round}");

            // The store's thread: whatever the room does there holds up its next commit.
            var store = new Thread(() => first.Commit.SetResult(2 * round + 1)) { IsBackground = true, Name = "store" };
            store.Start();
            Assert.That(store.Join(Timeout), Is.True, "the store's thread was given back");

            var second = await NextHandedAsync();
            Assert.That(second.Records.Select(r => r.Text), Is.EqualTo(new[] { $"two {round}" }));
            Assert.That(second.HandedOn, Is.Not.SameAs(store), "the room formed its next batch after leaving the store's thread");
            Assert.That(second.HandedOn.IsThreadPoolThread, Is.True);
            second.Commit.SetResult(2 * round + 2);
            Assert.That(((await one.Reply.Task.WaitAsync(Timeout)).Value, (await two.Reply.Task.WaitAsync(Timeout)).Value), Is.EqualTo((2L * round + 1, 2L * round + 2)));
        }

        Assert.That(box.Delivered.Select(m => m.Id), Is.EqualTo(Enumerable.Range(1, 10).Select(i => (long)i)));
    }

    [Test]
    public async Task A_batch_that_fails_fails_the_one_queued_behind_it_in_order_and_neither_is_shown()
    {
        var box = new WatchingOutbox(_ => { });
        var room = await StartRoomAsync(Online(box));
        var one = Post(room, "one");
        var first = await NextHandedAsync();
        var two = Post(room, "two");
        var second = await NextHandedAsync();
        Assert.That(second.After, Is.SameAs(first.Commit.Task));

        // The disk fails the first batch; the store refuses what was queued behind it the same way.
        var outage = new StoreUnavailableException("the disk is full", cause: "the disk is full");
        var behindFailed = two.Reply.Task.ContinueWith(_ => one.Reply.Task.IsFaulted, TaskScheduler.Default);
        first.Commit.SetException(outage);
        second.Commit.SetException(outage);

        Assert.That(Assert.CatchAsync<StoreUnavailableException>(async () => await one.Reply.Task.WaitAsync(Timeout)), Is.SameAs(outage));
        Assert.That(Assert.CatchAsync<StoreUnavailableException>(async () => await two.Reply.Task.WaitAsync(Timeout)), Is.SameAs(outage));
        Assert.That(await behindFailed.WaitAsync(Timeout), Is.True, "the first batch's posters were answered first");
        Assert.That(box.Delivered, Is.Empty, "nothing of either batch was shown");
        Assert.That(published.Received.OfType<CommittedMessages>(), Is.Empty);

        // The room carries on without a restart, and the next batch queues behind nothing.
        var three = Post(room, "three");
        var next = await NextHandedAsync();
        Assert.That(next.After, Is.Null);
        next.Commit.SetResult(1);
        Assert.That((await three.Reply.Task.WaitAsync(Timeout)).Value, Is.EqualTo(1));
        Assert.That(box.Delivered.Select(m => (m.Id, m.Text)), Is.EqualTo(new[] { (1L, "three") }));
        Assert.That(supervisor.Statistics.TotalRestarts, Is.Zero, "an outage is no fault of the loop");
    }

    [Test]
    public async Task A_batch_queued_behind_a_failed_one_is_not_shown_even_if_the_store_says_it_was_stored()
    {
        var box = new WatchingOutbox(_ => { });
        var room = await StartRoomAsync(Online(box));
        var one = Post(room, "one");
        var first = await NextHandedAsync();
        var two = Post(room, "two");
        var second = await NextHandedAsync();

        var outage = new StoreUnavailableException("the database is unreachable");
        first.Commit.SetException(outage);
        second.Commit.SetResult(1);

        Assert.That(Assert.CatchAsync<StoreUnavailableException>(async () => await one.Reply.Task.WaitAsync(Timeout)), Is.SameAs(outage));
        Assert.That(Assert.CatchAsync<StoreUnavailableException>(async () => await two.Reply.Task.WaitAsync(Timeout)), Is.SameAs(outage));
        Assert.That(box.Delivered, Is.Empty);
        Assert.That(published.Received.OfType<CommittedMessages>(), Is.Empty);
    }

    [Test]
    public async Task With_one_commit_in_flight_the_next_batch_forms_only_after_the_first_is_stored_and_takes_everything_queued()
    {
        var box = new WatchingOutbox(_ => { });
        var room = await StartRoomAsync(Online(box), commitsInFlight: 1);
        var one = Post(room, "one");
        var first = await NextHandedAsync();
        var two = Post(room, "two");
        var three = Post(room, "three");
        Assert.That(handed.Reader.TryRead(out _), Is.False, "nothing more is handed over while the first batch is at the store");

        first.Commit.SetResult(1);
        var second = await NextHandedAsync();
        Assert.That(second.Records.Select(r => r.Text), Is.EqualTo(new[] { "two", "three" }), "one batch of everything that queued meanwhile");
        Assert.That(second.After, Is.Null.Or.SameAs(first.Commit.Task));
        second.Commit.SetResult(2);
        Assert.That((await three.Reply.Task.WaitAsync(Timeout)).Value, Is.EqualTo(3));
        Assert.That((await one.Reply.Task).Value, Is.EqualTo(1));
        Assert.That((await two.Reply.Task).Value, Is.EqualTo(2));
        Assert.That(box.Delivered.Select(m => m.Id), Is.EqualTo(new[] { 1L, 2L, 3L }));
    }

    [TestCase(1)]
    [TestCase(2)]
    public async Task Posts_that_reach_the_room_while_its_batch_waits_for_the_store_join_it_and_are_acknowledged_in_order(int commitsInFlight)
    {
        closesAtOnce = false;
        var box = new BatchOutbox();
        var room = await StartRoomAsync(Online(box), commitsInFlight);
        var one = Post(room, "one");
        var first = await NextHandedAsync();
        Assert.That(first.Batch.IsOpen, Is.True, "an idle room hands its first post over at once, in a batch still open");
        var two = Post(room, "two");
        var stranger = new PostToRoom("mallory", "not a member");
        Assert.That(room.TryPost(stranger), Is.EqualTo(PostResult.Accepted));
        var three = Post(room, "three");
        Assert.That((await stranger.Reply.Task.WaitAsync(Timeout)).Error?.Code, Is.EqualTo("not_a_member"), "checked by the room before it joins");
        await UntilAsync(() => first.Batch.Count == 3);

        // The store's writer reaches the batch: what it holds is written, and a later post starts the next batch.
        Assert.That(first.Records.Select(r => r.Text), Is.EqualTo(new[] { "one", "two", "three" }));
        var four = Post(room, "four");
        first.Commit.SetResult(1);
        Assert.That(((await one.Reply.Task.WaitAsync(Timeout)).Value, (await two.Reply.Task.WaitAsync(Timeout)).Value, (await three.Reply.Task.WaitAsync(Timeout)).Value),
            Is.EqualTo((1L, 2L, 3L)), "consecutive ids in the order they joined; the refused post took none");
        var second = await NextHandedAsync();
        Assert.That(second.Records.Select(r => r.Text), Is.EqualTo(new[] { "four" }));
        second.Commit.SetResult(4);
        Assert.That((await four.Reply.Task.WaitAsync(Timeout)).Value, Is.EqualTo(4));
        Assert.That(box.Batches, Is.EqualTo(new[] { "1:one 2:two 3:three", "4:four" }), "each member gets the grown batch as one");
        Assert.That(handed.Reader.TryRead(out _), Is.False);
    }

    [Test]
    public async Task Posts_that_joined_a_batch_that_fails_fail_with_it_and_nothing_of_it_is_shown()
    {
        closesAtOnce = false;
        var box = new BatchOutbox();
        var room = await StartRoomAsync(Online(box), commitsInFlight: 1);
        var one = Post(room, "one");
        var first = await NextHandedAsync();
        var two = Post(room, "two");
        await UntilAsync(() => first.Batch.Count == 2);
        first.Batch.Close();

        var outage = new StoreUnavailableException("the disk is full", cause: "the disk is full");
        first.Commit.SetException(outage);
        Assert.That(Assert.CatchAsync<StoreUnavailableException>(async () => await one.Reply.Task.WaitAsync(Timeout)), Is.SameAs(outage));
        Assert.That(Assert.CatchAsync<StoreUnavailableException>(async () => await two.Reply.Task.WaitAsync(Timeout)), Is.SameAs(outage), "it joined the batch, so it failed with it");
        Assert.That(box.Batches, Is.Empty);
        Assert.That(published.Received.OfType<CommittedMessages>(), Is.Empty);

        // The room carries on: the next post starts a batch of its own.
        var three = Post(room, "three");
        var next = await NextHandedAsync();
        Assert.That(next.Records.Select(r => r.Text), Is.EqualTo(new[] { "three" }));
        next.Commit.SetResult(1);
        Assert.That((await three.Reply.Task.WaitAsync(Timeout)).Value, Is.EqualTo(1));
    }

    // The room joins posts to an open batch on its own loop; nothing tells the test when, so it looks (bounded).
    private static async Task UntilAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "timed out waiting for the room");
            await Task.Delay(5);
        }
    }

    [Test]
    public async Task A_committed_batch_reaches_each_connection_as_one_batch_in_id_order()
    {
        var box = new BatchOutbox();
        var room = await StartRoomAsync(Online(box), commitsInFlight: 1);
        Post(room, "one");
        var first = await NextHandedAsync();
        Post(room, "two");
        var three = Post(room, "three");
        first.Commit.SetResult(1);
        (await NextHandedAsync()).Commit.SetResult(2);
        await three.Reply.Task.WaitAsync(Timeout);

        Assert.That(box.Batches, Is.EqualTo(new[] { "1:one", "2:two 3:three" }), "one call per batch, never message by message");
    }

    [TestCase("0")]
    [TestCase("3")]
    public void Commits_in_flight_other_than_one_or_two_are_refused_at_start_with_the_key_named(string value)
    {
        var refused = Assert.ThrowsAsync<OptionsValidationException>(() => TestServer.StartAsync(new Dictionary<string, string> { ["Runtime:RoomCommitsInFlight"] = value }));
        Assert.That(refused!.Message, Does.Contain($"Runtime:RoomCommitsInFlight must be 1 or 2, got {value}"));
    }

    /// <summary>An outbox that tells the test what it is given, at the moment it is given it.</summary>
    [Test]
    public async Task Stopping_to_accept_answers_once_what_was_queued_before_is_delivered_and_refuses_what_comes_after()
    {
        var box = new WatchingOutbox(_ => { });
        var room = await StartRoomAsync(Online(box), commitsInFlight: 1);
        var one = Post(room, "one");
        var first = await NextHandedAsync();
        var two = Post(room, "two");
        var stop = new StopAccepting();
        Assert.That(room.TryPost(stop), Is.EqualTo(PostResult.Accepted));
        var late = Post(room, "late");
        var act = new ActInRoom("alice", new RoomAction(RoomEventKind.Topic, Text: "late topic"));
        Assert.That(room.TryPost(act), Is.EqualTo(PostResult.Accepted));

        // Shutdown is waiting on the room while "one" is at the store and "two" waits behind it.
        Assert.That(stop.Reply.Task.IsCompleted, Is.False);
        first.Commit.SetResult(1);
        var second = await NextHandedAsync();
        Assert.That(second.Records.Select(r => r.Text), Is.EqualTo(new[] { "two" }), "queued before the stop: still committed");
        Assert.That(stop.Reply.Task.IsCompleted, Is.False, "not before every post queued ahead of it is delivered");
        second.Commit.SetResult(2);

        Assert.That(await stop.Reply.Task.WaitAsync(Timeout), Is.True);
        Assert.That(box.Delivered.Select(m => m.Text), Is.EqualTo(new[] { "one", "two" }), "delivered before the stop was answered");
        Assert.That((one.Reply.Task.Result.Value, (await two.Reply.Task.WaitAsync(Timeout)).Value), Is.EqualTo((1L, 2L)));

        // Posted after the stop: refused with a reason, never stored nor shown.
        var refused = await late.Reply.Task.WaitAsync(Timeout);
        Assert.That((refused.Error?.Code, refused.Error?.Message), Is.EqualTo(("unavailable", "the server is shutting down, try again")));
        Assert.That((await act.Reply.Task.WaitAsync(Timeout)).Error?.Code, Is.EqualTo("unavailable"));
        Assert.That(handed.Reader.TryRead(out _), Is.False, "nothing after the stop reached the store");
        Assert.That(box.Delivered, Has.Count.EqualTo(2));
    }

    /// <summary>An outbox that records each batch it is given as one line, "ID:TEXT ID:TEXT".</summary>
    private sealed class BatchOutbox : IOutbox
    {
        private readonly List<string> batches = [];

        public IReadOnlyList<string> Batches
        {
            get
            {
                lock (batches)
                {
                    return [.. batches];
                }
            }
        }

        public bool TryDeliver(ChatEvent chatEvent) => true;

        public bool TryDeliverBatch(IReadOnlyList<ChatEvent> batch)
        {
            lock (batches)
            {
                batches.Add(string.Join(' ', batch.Cast<RoomMessage>().Select(m => $"{m.Id}:{m.Text}")));
            }

            return true;
        }

        public void Disconnect(string reason)
        {
        }
    }

    private sealed class WatchingOutbox(Action<ChatEvent> watch) : IOutbox
    {
        private readonly List<RoomMessage> delivered = [];

        public IReadOnlyList<RoomMessage> Delivered
        {
            get
            {
                lock (delivered)
                {
                    return [.. delivered];
                }
            }
        }

        public bool TryDeliver(ChatEvent chatEvent)
        {
            watch(chatEvent);
            if (chatEvent is RoomMessage message)
            {
                lock (delivered)
                {
                    delivered.Add(message);
                }
            }

            return true;
        }

        public void Disconnect(string reason)
        {
        }
    }
}
