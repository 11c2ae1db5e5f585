using TinyChat.Chat;
using TinyChat.Storage.InMemory;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Chat;

/// <summary>
/// A room retires on a node where nobody is online in it while the other node keeps it busy; when someone there
/// needs it again, the new loop hears the other node's posts (it subscribes to the room's topic again) and ids go on.
/// </summary>
public sealed class ClusterRetirementTests
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private InMemoryStore store = null!;
    private ManualClock clock = null!;
    private ClusterPresence presenceA = null!;
    private ClusterPresence presenceB = null!;
    private ChatCore a = null!;
    private ChatCore b = null!;

    [SetUp]
    public async Task StartNodes()
    {
        store = new InMemoryStore();
        var bus = new InProcessChatBus();
        clock = new ManualClock();

        // Presence heartbeats on a clock of their own that never moves: jumping past the idle time must not make
        // the nodes look dead to each other.
        var heartbeats = new ManualClock();
        presenceA = new ClusterPresence("a", bus, heartbeats, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15));
        presenceB = new ClusterPresence("b", bus, heartbeats, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15));
        presenceA.Start();
        presenceB.Start();
        foreach (var user in new[] { "alice", "bob" })
        {
            await store.UpsertAsync(user, user + "_token", None);
        }

        var limits = new ChatLimits(4000, 64, 64) { IdleRoomAfter = Idle };
        a = await ChatCore.StartNodeAsync(store, bus, presenceA, limits, clock);
        b = await ChatCore.StartNodeAsync(store, bus, presenceB, limits, clock);
    }

    [TearDown]
    public async Task StopNodes()
    {
        await a.DisposeAsync();
        await b.DisposeAsync();
        presenceA.Dispose();
        presenceB.Dispose();
    }

    [Test]
    public async Task A_room_retired_on_one_node_hears_the_other_node_again_once_restarted()
    {
        Assert.That(await ((IRoomStore)store).TryCreateAsync("lobby", None), Is.True);
        var (alice, _) = await b.ConnectAsync("alice");
        Assert.That((await alice.JoinAsync("lobby", None)).Error, Is.Null);
        var bobRequest = await (await a.Server.AdmitAsync("bob_token", None)).Value!.ConnectRequestAsync(None);
        Assert.That((await bobRequest.JoinAsync("lobby", None)).Error, Is.Null);
        Assert.That((await bobRequest.SendToRoomAsync("lobby", "from a", None)).Value, Is.EqualTo(1));
        await bobRequest.DisposeAsync();

        // Nobody is online in the lobby on a: its loop retires there, while alice keeps it busy on b.
        var onA = a.Server.Rooms.TryFindLive("lobby")!;
        clock.Advance(Idle + TimeSpan.FromSeconds(1));
        Assert.That((await alice.SendToRoomAsync("lobby", "from b, a still runs", None)).Value, Is.EqualTo(2));
        a.Server.ForgetIdle();
        await onA.Ended.WaitAsync(Timeout);
        Assert.That(a.Server.Rooms.TryFindLive("lobby"), Is.Null);
        Assert.That(b.Server.Rooms.TryFindLive("lobby"), Is.Not.Null, "alice is online in it on b");
        Assert.That((await alice.SendToRoomAsync("lobby", "from b, a retired", None)).Value, Is.EqualTo(3));

        // bob comes online on a: greeting him starts the lobby there again, subscribed to the room's topic.
        var (bob, bobBox) = await a.ConnectAsync("bob");
        Assert.That((await bobBox.NextAsync<PresenceState>()).Online.Select(e => e.User), Is.EqualTo(new[] { "alice", "bob" }));
        Assert.That((await alice.SendToRoomAsync("lobby", "from b, a restarted", None)).Value, Is.EqualTo(4));
        var heard = await bobBox.NextAsync<RoomMessage>();
        Assert.That((heard.Id, heard.Text), Is.EqualTo((4L, "from b, a restarted")));
        Assert.That((await bob.SendToRoomAsync("lobby", "from a again", None)).Value, Is.EqualTo(5), "ids go on");
        Assert.That(a.Server.Rooms.Retired, Is.EqualTo(1));
        Assert.That(b.Server.Rooms.Retired, Is.Zero, "a room with a member online does not retire");
        await bob.DisposeAsync();
    }
}
