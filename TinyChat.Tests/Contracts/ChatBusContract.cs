using System.Threading.Channels;
using NSubstitute;
using TinyChat.Chat;

namespace TinyChat.Tests.Contracts;

/// <summary>
/// What every <see cref="IChatBus"/> promises: per-topic order, fan-out to every subscriber, unsubscribe, and
/// that no subscriber can hold up the publisher or the others. Each implementation runs it through a subclass.
/// </summary>
[TestFixture]
public abstract class ChatBusContract
{
    /// <summary>How long a test waits for what it expects.</summary>
    protected static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private static readonly ChatTopic Lobby = ChatTopic.Room("lobby");
    private static readonly ChatTopic Kitchen = ChatTopic.Room("kitchen");

    private IChatBus bus = null!;

    /// <summary>A fresh bus with no subscribers.</summary>
    protected abstract IChatBus NewBus();

    /// <summary>Releases what <see cref="NewBus"/> created.</summary>
    protected virtual Task DisposeBusAsync(IChatBus bus) => Task.CompletedTask;

    [SetUp]
    public void CreateBus() => bus = NewBus();

    [TearDown]
    public Task DisposeBus() => DisposeBusAsync(bus);

    /// <summary>A small message that carries a number.</summary>
    protected static ChatBusEvent Numbered(int n) => new(new TypingNotice($"user{n}", "lobby", null));

    /// <summary>The number <see cref="Numbered"/> put in.</summary>
    protected static int NumberOf(ChatBusMessage message) => int.Parse(((TypingNotice)((ChatBusEvent)message).Event).User.AsSpan("user".Length));

    /// <summary>Records what it receives; thread-safe.</summary>
    protected sealed class Recorder : IChatBusSubscriber
    {
        private readonly Channel<(ChatTopic Topic, ChatBusMessage Message)> received = Channel.CreateUnbounded<(ChatTopic, ChatBusMessage)>();

        public int Count => received.Reader.Count;

        public void Receive(ChatTopic topic, ChatBusMessage message) => received.Writer.TryWrite((topic, message));

        public async Task<List<(ChatTopic Topic, ChatBusMessage Message)>> TakeAsync(int count)
        {
            using var timeout = new CancellationTokenSource(Timeout);
            var taken = new List<(ChatTopic, ChatBusMessage)>(count);
            while (taken.Count < count)
            {
                taken.Add(await received.Reader.ReadAsync(timeout.Token));
            }

            return taken;
        }

        public List<(ChatTopic Topic, ChatBusMessage Message)> TakeNow()
        {
            var taken = new List<(ChatTopic, ChatBusMessage)>();
            while (received.Reader.TryRead(out var item))
            {
                taken.Add(item);
            }

            return taken;
        }
    }

    [Test]
    public async Task Subscribers_of_a_topic_receive_its_messages_in_publish_order()
    {
        var first = new Recorder();
        var second = new Recorder();
        bus.Subscribe(Lobby, first);
        bus.Subscribe(Lobby, second);

        for (var n = 0; n < 1000; n++)
        {
            bus.Publish(Lobby, Numbered(n));
        }

        foreach (var recorder in new[] { first, second })
        {
            var got = await recorder.TakeAsync(1000);
            Assert.That(got.Select(g => NumberOf(g.Message)), Is.EqualTo(Enumerable.Range(0, 1000)));
            Assert.That(got.Select(g => g.Topic), Is.All.EqualTo(Lobby));
        }
    }

    [Test]
    public async Task Publishers_on_different_topics_at_once_each_keep_their_order_and_stay_on_their_topic()
    {
        var lobby = new Recorder();
        var kitchen = new Recorder();
        var alice = new Recorder();
        bus.Subscribe(Lobby, lobby);
        bus.Subscribe(Kitchen, kitchen);
        bus.Subscribe(ChatTopic.User("alice"), alice);

        await Task.WhenAll(
            Task.Run(() => PublishRange(Lobby, 0, 500)),
            Task.Run(() => PublishRange(Kitchen, 1000, 500)),
            Task.Run(() => PublishRange(ChatTopic.User("alice"), 2000, 500))).WaitAsync(Timeout);

        Assert.That((await lobby.TakeAsync(500)).Select(g => NumberOf(g.Message)), Is.EqualTo(Enumerable.Range(0, 500)));
        Assert.That((await kitchen.TakeAsync(500)).Select(g => NumberOf(g.Message)), Is.EqualTo(Enumerable.Range(1000, 500)));
        Assert.That((await alice.TakeAsync(500)).Select(g => NumberOf(g.Message)), Is.EqualTo(Enumerable.Range(2000, 500)));
        Assert.That(lobby.TakeNow().Concat(kitchen.TakeNow()).Concat(alice.TakeNow()), Is.Empty, "nothing crossed topics");
    }

    [Test]
    public void A_room_and_a_user_of_the_same_name_are_different_topics()
    {
        var room = new Recorder();
        bus.Subscribe(ChatTopic.Room("sam"), room);
        bus.Publish(ChatTopic.User("sam"), Numbered(1));
        Assert.That(room.TakeNow(), Is.Empty);
    }

    [Test]
    public void Local_subscribers_have_the_message_when_publish_returns()
    {
        // The room loop depends on it: its own batch is delivered inside its turn, before it acknowledges posts.
        var local = new Recorder();
        bus.Subscribe(Lobby, local);
        var message = Numbered(7);
        bus.Publish(Lobby, message);
        Assert.That(local.TakeNow().Select(g => g.Message), Is.EqualTo(new[] { message }));
    }

    [Test]
    public async Task A_subscriber_gets_what_is_published_while_it_is_subscribed_and_nothing_after()
    {
        var stays = new Recorder();
        var leaves = new Recorder();
        bus.Publish(Lobby, Numbered(0));
        bus.Subscribe(Lobby, stays);
        var subscription = bus.Subscribe(Lobby, leaves);
        bus.Publish(Lobby, Numbered(1));
        await leaves.TakeAsync(1);

        subscription.Dispose();
        subscription.Dispose();
        bus.Publish(Lobby, Numbered(2));

        Assert.That((await stays.TakeAsync(2)).Select(g => NumberOf(g.Message)), Is.EqualTo(new[] { 1, 2 }), "nothing from before it subscribed");
        Assert.That(leaves.TakeNow(), Is.Empty, "nothing after it unsubscribed");
        Assert.That(stays.TakeNow(), Is.Empty);
    }

    [Test]
    public void Publishing_to_a_topic_nobody_listens_to_is_harmless()
    {
        Assert.DoesNotThrow(() => bus.Publish(ChatTopic.User("nobody"), Numbered(1)));
        var late = new Recorder();
        bus.Subscribe(ChatTopic.User("nobody"), late);
        Assert.That(late.TakeNow(), Is.Empty, "a message is not kept for a later subscriber");
    }

    [Test]
    public async Task A_throwing_subscriber_costs_the_publisher_and_the_others_nothing()
    {
        var before = new Recorder();
        var after = new Recorder();
        var broken = Substitute.For<IChatBusSubscriber>();
        broken.When(b => b.Receive(Arg.Any<ChatTopic>(), Arg.Any<ChatBusMessage>())).Do(_ => throw new InvalidOperationException("broken deliverer"));
        bus.Subscribe(Lobby, before);
        bus.Subscribe(Lobby, broken);
        bus.Subscribe(Lobby, after);

        for (var n = 0; n < 100; n++)
        {
            Assert.DoesNotThrow(() => bus.Publish(Lobby, Numbered(n)));
        }

        Assert.That((await before.TakeAsync(100)).Select(g => NumberOf(g.Message)), Is.EqualTo(Enumerable.Range(0, 100)));
        Assert.That((await after.TakeAsync(100)).Select(g => NumberOf(g.Message)), Is.EqualTo(Enumerable.Range(0, 100)));
    }

    [Test]
    public async Task A_subscriber_whose_consumer_is_stuck_holds_up_neither_the_publisher_nor_the_others()
    {
        // A well-behaved subscriber hands messages on to its own consumer; that consumer may be stuck.
        using var release = new SemaphoreSlim(0);
        var handedOn = Channel.CreateUnbounded<ChatBusMessage>();
        var consumed = new List<int>();
        var consumer = Task.Run(async () =>
        {
            await release.WaitAsync();
            while (consumed.Count < 1000)
            {
                consumed.Add(NumberOf(await handedOn.Reader.ReadAsync()));
            }
        });
        var slow = Substitute.For<IChatBusSubscriber>();
        slow.When(s => s.Receive(Arg.Any<ChatTopic>(), Arg.Any<ChatBusMessage>())).Do(call => handedOn.Writer.TryWrite(call.Arg<ChatBusMessage>()));
        var fast = new Recorder();
        bus.Subscribe(Lobby, slow);
        bus.Subscribe(Lobby, fast);

        await Task.Run(() => PublishRange(Lobby, 0, 1000)).WaitAsync(Timeout);
        Assert.That((await fast.TakeAsync(1000)).Select(g => NumberOf(g.Message)), Is.EqualTo(Enumerable.Range(0, 1000)), "while the slow one's consumer is still stuck");

        Assert.That(consumer.IsCompleted, Is.False);
        release.Release();
        await consumer.WaitAsync(Timeout);
        Assert.That(consumed, Is.EqualTo(Enumerable.Range(0, 1000)), "and the slow one still gets everything, in order");
    }

    private void PublishRange(ChatTopic topic, int from, int count)
    {
        for (var n = from; n < from + count; n++)
        {
            bus.Publish(topic, Numbered(n));
        }
    }
}
