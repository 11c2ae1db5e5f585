using Microsoft.Extensions.Logging.Abstractions;
using TinyChat.Chat;
using TinyChat.Runtime;
using TinyChat.Storage.InMemory;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Chat;

/// <summary>Private messages and private typing go through the users' bus topics to every connection of the user.</summary>
public sealed class PrivateDeliveryTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
    private readonly List<ChatClient> clients = [];
    private CancellationTokenSource stop = null!;
    private Task running = null!;
    private ManualClock clock = null!;
    private InProcessChatBus bus = null!;
    private ChatServer server = null!;
    private Terminations terminations = null!;

    /// <summary>Completes a task when a named child of the session supervisor ends for good.</summary>
    private sealed class Terminations : ISupervisionObserver
    {
        private readonly TaskCompletionSource<string> bob = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<string> BobsSessionEnded => bob.Task;

        public void ChildRestarted(string supervisor, string child, Exception fault)
        {
        }

        public void ChildTerminated(string supervisor, string child, Exception? reason)
        {
            if (child == "session:bob")
            {
                bob.TrySetResult(child);
            }
        }

        public void Escalated(string supervisor, Exception fault)
        {
        }
    }

    [SetUp]
    public async Task StartCore()
    {
        stop = new CancellationTokenSource();
        clock = new ManualClock(T0);
        bus = new InProcessChatBus();
        var store = new InMemoryStore();
        var rooms = new Supervisor("rooms", RestartPolicy.Default, NullLogger.Instance);
        terminations = new Terminations();
        var sessions = new Supervisor("sessions", RestartPolicy.Default, NullLogger.Instance, observer: terminations);
        running = Task.WhenAll(rooms.RunAsync(stop.Token), sessions.RunAsync(stop.Token));
        await Task.WhenAll(rooms.Started, sessions.Started).WaitAsync(Timeout);
        server = new ChatServer(store, store, store, rooms, sessions, new ChatLimits(1000, 64, 64), clock, bus, new InProcessPresence());
        await store.UpsertAsync("alice", "alice-token", CancellationToken.None);
        await store.UpsertAsync("bob", "bob-token", CancellationToken.None);
    }

    [TearDown]
    public async Task StopCore()
    {
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }

        clients.Clear();
        await stop.CancelAsync();
        await running.WaitAsync(Timeout);
        stop.Dispose();
    }

    private async Task<RecordingOutbox> ConnectAsync(string user)
    {
        var box = new RecordingOutbox();
        clients.Add(await server.ConnectAsync(user, box, CancellationToken.None).WaitAsync(Timeout));
        return box;
    }

    private ChatClient Client(int index) => clients[index];

    [Test]
    public async Task A_private_message_is_published_on_both_users_topics_and_reaches_every_tab_once()
    {
        var aliceTab1 = await ConnectAsync("alice");
        var aliceTab2 = await ConnectAsync("alice");
        var bobTab = await ConnectAsync("bob");
        var bobTopic = new RecordingSubscriber();
        bus.Subscribe(ChatTopic.User("bob"), bobTopic);

        var sent = await Client(0).SendPrivateAsync("bob", "hi bob", CancellationToken.None).WaitAsync(Timeout);

        var atBob = await bobTab.NextAsync<PrivateMessage>();
        Assert.That((atBob.Id, atBob.From, atBob.To, atBob.Text, atBob.Timestamp), Is.EqualTo((sent.Value, "alice", "bob", "hi bob", T0)));
        Assert.That(await aliceTab1.NextAsync<PrivateMessage>(), Is.SameAs(atBob), "one event object for every recipient");
        Assert.That(await aliceTab2.NextAsync<PrivateMessage>(), Is.SameAs(atBob));
        Assert.That(bobTopic.Received.Cast<ChatBusEvent>().Select(e => e.Event), Is.EqualTo(new[] { atBob }));

        await Client(0).SendPrivateAsync("alice", "note to self", CancellationToken.None).WaitAsync(Timeout);
        Assert.That((await aliceTab1.NextAsync<PrivateMessage>()).Text, Is.EqualTo("note to self"));
        Assert.That(aliceTab1.Drain().OfType<PrivateMessage>(), Is.Empty, "a message to oneself arrives once per tab");
    }

    [Test]
    public async Task Stopping_to_accept_waits_for_a_private_message_on_its_way_and_refuses_the_next()
    {
        var aliceTab = await ConnectAsync("alice");
        var bobTab = await ConnectAsync("bob");

        // The test holds alice's and bob's turn, so alice's message is accepted but not yet stored and published.
        var turn = await server.PrivateOrder.EnterAsync("alice", "bob", CancellationToken.None);
        var onItsWay = Client(0).SendPrivateAsync("bob", "just in time", CancellationToken.None);
        var stopping = server.StopAcceptingAsync(CancellationToken.None);
        var late = await Client(0).SendPrivateAsync("bob", "too late", CancellationToken.None).WaitAsync(Timeout);

        Assert.That((late.Error?.Code, late.Error?.Message), Is.EqualTo(("unavailable", "the server is shutting down, try again")));
        Assert.That((onItsWay.IsCompleted, stopping.IsCompleted), Is.EqualTo((false, false)), "the shutdown waits for the message on its way");
        turn.Dispose();
        var sent = await onItsWay.WaitAsync(Timeout);
        await stopping.WaitAsync(Timeout);
        Assert.That(sent.Error, Is.Null);
        Assert.That((await bobTab.NextAsync<PrivateMessage>()).Text, Is.EqualTo("just in time"), "delivered before the shutdown went on");
        Assert.That((await aliceTab.NextAsync<PrivateMessage>()).Text, Is.EqualTo("just in time"));
        Assert.That(bobTab.Drain().OfType<PrivateMessage>(), Is.Empty, "the refused one never arrives");
    }

    [Test]
    public async Task Private_typing_reaches_only_the_recipient_at_most_once_a_second()
    {
        var aliceTab = await ConnectAsync("alice");
        var bobTab = await ConnectAsync("bob");

        Assert.That(Client(0).TypingTo("bob"), Is.Null);
        Assert.That(Client(0).TypingTo("bob"), Is.Null);
        var first = await bobTab.NextAsync<TypingNotice>();
        Assert.That((first.User, first.Room, first.To), Is.EqualTo(("alice", (string?)null, (string?)"bob")));

        // The session mailbox is FIFO: once alice's session answered this, both typing commands were handled.
        await Client(0).RoomsAsync(CancellationToken.None).WaitAsync(Timeout);
        Assert.That(bobTab.Drain().OfType<TypingNotice>(), Is.Empty, "the second notice within a second was dropped");

        clock.Advance(TimeSpan.FromSeconds(1));
        Client(0).TypingTo("bob");
        Assert.That((await bobTab.NextAsync<TypingNotice>()).User, Is.EqualTo("alice"));
        Assert.That(aliceTab.Drain().OfType<TypingNotice>(), Is.Empty);
    }

    [Test]
    public async Task A_session_stops_listening_on_its_topic_when_its_last_connection_closes()
    {
        await ConnectAsync("bob");
        Assert.That(bus.Topics, Is.EqualTo(1));

        await Client(0).DisposeAsync();
        await terminations.BobsSessionEnded.WaitAsync(Timeout);
        Assert.That(bus.Topics, Is.Zero);
    }
}
