using TinyChat.Chat;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Chat;

/// <summary>Cluster presence between nodes that share one in-process bus, on a manual clock.</summary>
public sealed class ClusterPresenceTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
    private static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan NodeTimeout = TimeSpan.FromSeconds(15);
    private ManualClock clock = null!;
    private LossyBus bus = null!;

    [SetUp]
    public void CreateCluster()
    {
        clock = new ManualClock(T0);
        bus = new LossyBus();
    }

    private ClusterPresence Node(string name)
    {
        var node = new ClusterPresence(name, bus, clock, Heartbeat, NodeTimeout);
        node.Start();
        return node;
    }

    /// <summary>Records the users each <see cref="IPresence.OthersChanged"/> names.</summary>
    private static List<string> Watch(IPresence presence)
    {
        var changed = new List<string>();
        presence.OthersChanged += users =>
        {
            lock (changed)
            {
                changed.AddRange(users);
            }
        };
        return changed;
    }

    [Test]
    public void Each_nodes_rows_reach_the_others_and_a_user_on_two_nodes_is_one_presence()
    {
        var a = Node("a");
        var b = Node("b");
        var changedOnB = Watch(b);

        a.Track("alice", T0, 1);
        Assert.That(b.Find("alice"), Is.EqualTo(new PresenceEntry("alice", T0, 1)));
        Assert.That(changedOnB, Is.EqualTo(new[] { "alice" }));

        b.Track("alice", T0.AddMinutes(1), 2);
        Assert.That(a.Find("alice"), Is.EqualTo(new PresenceEntry("alice", T0, 3)), "connections added up, online since the earliest");
        Assert.That(b.Find("alice"), Is.EqualTo(new PresenceEntry("alice", T0, 3)));

        a.Track("alice", T0, 0);
        Assert.That(b.Find("alice"), Is.EqualTo(new PresenceEntry("alice", T0.AddMinutes(1), 2)), "still online on b");
        b.Track("alice", T0.AddMinutes(1), 0);
        Assert.That(a.Find("alice"), Is.Null);
    }

    [Test]
    public void A_node_that_starts_late_gets_the_rows_of_the_nodes_already_running()
    {
        var a = Node("a");
        for (var i = 0; i < 150; i++)
        {
            a.Track($"u{i}", T0, 1);
        }

        var c = Node("c");
        Assert.That(Enumerable.Range(0, 150).Select(i => c.Find($"u{i}")?.Connections), Is.All.EqualTo(1), "a snapshot in several parts");
        Assert.That(c.OtherNodes, Is.EqualTo(new[] { "a" }));
    }

    [Test]
    public void A_node_silent_for_the_timeout_is_dropped_and_its_users_go_offline_unless_online_elsewhere()
    {
        var a = Node("a");
        var b = Node("b");
        var c = Node("c");
        a.Track("alice", T0, 1);
        a.Track("bob", T0, 1);
        c.Track("bob", T0, 1);
        var changedOnB = Watch(b);

        // a is killed: it never heartbeats again; b and c go on.
        for (var beat = 0; beat < 3; beat++)
        {
            clock.Advance(Heartbeat);
            b.Tick();
            c.Tick();
        }

        Assert.That(b.Find("alice"), Is.Not.Null, "15 s is not yet more than the timeout");
        clock.Advance(Heartbeat);
        b.Tick();
        c.Tick();

        Assert.That(b.Find("alice"), Is.Null);
        Assert.That(b.Find("bob"), Is.EqualTo(new PresenceEntry("bob", T0, 1)), "bob is still on c");
        Assert.That(changedOnB, Is.EquivalentTo(new[] { "alice", "bob" }));
        Assert.That(b.OtherNodes, Is.EqualTo(new[] { "c" }));
        Assert.That(c.OtherNodes, Is.EqualTo(new[] { "b" }));
    }

    [Test]
    public void A_node_that_stops_cleanly_is_dropped_at_once()
    {
        var a = Node("a");
        var b = Node("b");
        a.Track("alice", T0, 1);

        a.Dispose();
        Assert.That(b.Find("alice"), Is.Null);
        Assert.That(b.OtherNodes, Is.Empty);
    }

    [Test]
    public void A_node_restarted_under_the_same_name_leaves_no_ghosts()
    {
        var a = Node("a");
        var b = Node("b");
        a.Track("alice", T0, 1);
        a.Track("bob", T0, 1);

        // kill -9 and start again before the timeout: the new run has only who reconnected to it.
        bus.Lose = message => message is PresenceRows rows ? rows.Incarnation == a.Incarnation : message is NodeHeartbeat beat && beat.Incarnation == a.Incarnation;
        var restarted = Node("a");
        restarted.Track("bob", T0.AddMinutes(1), 1);

        Assert.That(b.Find("alice"), Is.Null);
        Assert.That(b.Find("bob"), Is.EqualTo(new PresenceEntry("bob", T0.AddMinutes(1), 1)));
    }

    [Test]
    public void A_lost_change_is_noticed_by_its_version_and_healed_by_a_snapshot()
    {
        var a = Node("a");
        var b = Node("b");
        a.Track("alice", T0, 1);

        bus.Lose = message => message is PresenceRows { Node: "a", Snapshot: false };
        a.Track("alice", T0, 0);
        a.Track("bob", T0, 1);
        Assert.That(b.Find("alice"), Is.Not.Null, "b missed it");

        bus.Lose = null;
        a.Track("carol", T0, 1);
        Assert.That(b.Find("alice"), Is.Null, "the next change showed a gap; a's snapshot healed it");
        Assert.That(b.Find("bob"), Is.Not.Null);
        Assert.That(b.Find("carol"), Is.Not.Null);
    }

    [Test]
    public void A_lost_last_change_is_healed_by_the_next_heartbeat()
    {
        var a = Node("a");
        var b = Node("b");
        bus.Lose = message => message is PresenceRows { Node: "a", Snapshot: false };
        a.Track("alice", T0, 1);
        Assert.That(b.Find("alice"), Is.Null);

        bus.Lose = null;
        clock.Advance(Heartbeat);
        a.Tick();
        Assert.That(b.Find("alice"), Is.Not.Null);
    }

    [Test]
    public void After_the_bus_resumes_every_node_is_asked_again()
    {
        var a = Node("a");
        var b = Node("b");
        bus.Lose = message => message is PresenceRows or NodeHeartbeat;
        a.Track("alice", T0, 1);
        bus.Lose = null;

        b.Receive(ChatTopic.Presence, BusResumed.Instance);
        Assert.That(b.Find("alice"), Is.Not.Null);
    }

    [Test]
    public async Task The_heartbeat_loop_runs_on_the_injected_clock()
    {
        var a = Node("a");
        var heard = new RecordingSubscriber();
        bus.Subscribe(ChatTopic.Presence, heard);
        using var stop = new CancellationTokenSource();
        var loop = a.RunAsync(stop.Token);

        for (var beat = 1; beat <= 3; beat++)
        {
            clock.Advance(Heartbeat);
            await Until(() => heard.Received.OfType<NodeHeartbeat>().Count() >= beat);
        }

        await stop.CancelAsync();
        await loop.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private static async Task Until(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!condition())
        {
            await Task.Delay(10, timeout.Token);
        }
    }

    /// <summary>An in-process bus that drops what <see cref="Lose"/> says, as a lost notification would.</summary>
    private sealed class LossyBus : IChatBus
    {
        private readonly InProcessChatBus inner = new();

        public Func<ChatBusMessage, bool>? Lose { get; set; }

        public void Publish(ChatTopic topic, ChatBusMessage message)
        {
            if (Lose?.Invoke(message) != true)
            {
                inner.Publish(topic, message);
            }
        }

        public IDisposable Subscribe(ChatTopic topic, IChatBusSubscriber subscriber) => inner.Subscribe(topic, subscriber);
    }
}
