using Microsoft.Extensions.Logging.Abstractions;
using TinyChat.Chat;
using TinyChat.Runtime;
using TinyChat.Storage.InMemory;

namespace TinyChat.Tests.Chat;

/// <summary>
/// A live connection's join goes to the room without waiting for the session's loop; the session still records the
/// room, and what it learns while the join is being stored (the connection closing) it handles after the join.
/// </summary>
public sealed class JoiningTests
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    [Test]
    public async Task A_welcomed_join_is_among_the_sessions_rooms_and_a_second_connection_is_greeted_in_it()
    {
        await using var core = await ChatCore.StartAsync(null, "alice");
        var (alice, box) = await core.ConnectAsync("alice");
        Assert.That(await alice.CreateAsync("lobby", None), Is.Null);

        var welcomed = 0;
        var joined = await alice.JoinAsync("lobby", (_, _) => Interlocked.Increment(ref welcomed), None).WaitAsync(Timeout);

        Assert.That((joined.Error, welcomed), Is.EqualTo(((ChatError?)null, 1)));
        Assert.That((await alice.RoomsAsync(None)).Value!.Joined, Does.Contain("lobby"));
        Assert.That(await box.NextAsync<PresenceState>(), Has.Property(nameof(PresenceState.Room)).EqualTo("lobby"), "the greeting after the welcome");

        var (_, second) = await core.ConnectAsync("alice");
        Assert.That((await second.NextAsync<PresenceState>()).Room, Is.EqualTo("lobby"), "a later connection is greeted in the room the session recorded");
    }

    [Test]
    public async Task A_welcomed_join_to_a_missing_room_is_refused_and_the_session_carries_on()
    {
        await using var core = await ChatCore.StartAsync(null, "alice");
        var (alice, _) = await core.ConnectAsync("alice");
        var welcomed = false;

        var joined = await alice.JoinAsync("nowhere", (_, _) => welcomed = true, None).WaitAsync(Timeout);

        Assert.That((joined.Error?.Code, welcomed), Is.EqualTo(("room_not_found", false)));
        Assert.That((await alice.RoomsAsync(None).WaitAsync(Timeout)).Value!.Joined, Does.Not.Contain("nowhere"));
        Assert.That((await alice.JoinAsync(null, (_, _) => welcomed = true, None).WaitAsync(Timeout)).Error, Is.Null, "the session still answers");
    }

    [Test]
    public async Task A_connection_that_closes_while_its_join_is_stored_is_not_left_online_in_the_room()
    {
        var store = new InMemoryStore();
        await store.UpsertAsync("alice", "alice_token", None);
        await store.UpsertAsync("bob", "bob_token", None);
        var rooms = new HeldJoins(store, "bob");
        using var stop = new CancellationTokenSource();
        var roomSupervisor = new Supervisor("rooms", RestartPolicy.Default, NullLogger.Instance);
        var sessionSupervisor = new Supervisor("sessions", RestartPolicy.Default, NullLogger.Instance);
        var running = Task.WhenAll(roomSupervisor.RunAsync(stop.Token), sessionSupervisor.RunAsync(stop.Token));
        await Task.WhenAll(roomSupervisor.Started, sessionSupervisor.Started).WaitAsync(Timeout);
        var server = new ChatServer(store, rooms, store, roomSupervisor, sessionSupervisor, new ChatLimits(4000, 64, 64), TimeProvider.System);
        await server.InitializeAsync(None);

        var alice = await (await server.AdmitAsync("alice_token", None)).Value!.ConnectAsync(new RecordingOutbox(), None);
        Assert.That((await alice.JoinAsync(null, (_, _) => { }, None).WaitAsync(Timeout)).Error, Is.Null);
        var bob = await (await server.AdmitAsync("bob_token", None)).Value!.ConnectAsync(new RecordingOutbox(), None);

        // Bob's membership is being stored when his only connection closes; his session ends.
        var bobSession = server.Sessions.Live.Single(s => s.User == "bob");
        var joining = bob.JoinAsync(null, (_, _) => { }, None);
        await rooms.Holding.WaitAsync(Timeout);
        var closing = bob.DisposeAsync().AsTask();
        rooms.Release();
        Assert.That((await joining.WaitAsync(Timeout)).Error, Is.Null, "the join was stored");
        await closing.WaitAsync(Timeout);

        // The session ends once it has told its rooms, and it handled the closing after the join: bob is a member, offline.
        await bobSession.Ended.WaitAsync(Timeout);
        var online = (await alice.WhoAsync(ChatNames.DefaultRoom, None).WaitAsync(Timeout)).Value!.Online.Select(e => e.User);
        Assert.That(online, Is.EqualTo(new[] { "alice" }), "bob, whose connection closed, is not shown online");
        Assert.That(await store.MembersAsync(ChatNames.DefaultRoom, None), Does.Contain("bob"));

        // Nor kept as a listener: once alice has gone too, the room may retire (a room never retires while it has one).
        var aliceSession = server.Sessions.Live.Single(s => s.User == "alice");
        await alice.DisposeAsync();
        await aliceSession.Ended.WaitAsync(Timeout);
        var room = server.Rooms.TryFindLive(ChatNames.DefaultRoom)!;
        Assert.That(room.TryPost(new RetireIfIdle(TimeSpan.Zero)), Is.EqualTo(PostResult.Accepted));
        await room.Ended.WaitAsync(Timeout);
        Assert.That(room.EndedWithListeners, Is.False);

        await stop.CancelAsync();
        await running.WaitAsync(Timeout);
    }

    /// <summary>A room store whose membership writes for one user wait until released; every other call goes through.</summary>
    private sealed class HeldJoins(IRoomStore inner, string held) : IRoomStore
    {
        private readonly TaskCompletionSource holding = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task Holding => holding.Task;

        public void Release() => released.TrySetResult();

        public async ValueTask<bool[]> AddMembersAsync(string room, IReadOnlyList<string> users, CancellationToken cancellationToken)
        {
            if (users.Contains(held))
            {
                holding.TrySetResult();
                await released.Task.WaitAsync(cancellationToken);
            }

            return await inner.AddMembersAsync(room, users, cancellationToken);
        }

        public ValueTask<bool> TryCreateAsync(string room, CancellationToken cancellationToken) => inner.TryCreateAsync(room, cancellationToken);

        public ValueTask<bool> TryCreateAsync(string room, string? owner, bool isPrivate, CancellationToken cancellationToken) =>
            inner.TryCreateAsync(room, owner, isPrivate, cancellationToken);

        public ValueTask<RoomAccess?> AccessAsync(string room, CancellationToken cancellationToken) => inner.AccessAsync(room, cancellationToken);

        public ValueTask<IReadOnlyList<string>> PrivateRoomsAsync(CancellationToken cancellationToken) => inner.PrivateRoomsAsync(cancellationToken);

        public ValueTask<int> CountOwnedAsync(string owner, CancellationToken cancellationToken) => inner.CountOwnedAsync(owner, cancellationToken);

        public ValueTask<bool> ExistsAsync(string room, CancellationToken cancellationToken) => inner.ExistsAsync(room, cancellationToken);

        public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) => inner.ListAsync(cancellationToken);

        public ValueTask<bool> AddMemberAsync(string room, string user, CancellationToken cancellationToken) => inner.AddMemberAsync(room, user, cancellationToken);

        public ValueTask<bool> RemoveMemberAsync(string room, string user, CancellationToken cancellationToken) => inner.RemoveMemberAsync(room, user, cancellationToken);

        public ValueTask<IReadOnlyList<string>> MembersAsync(string room, CancellationToken cancellationToken) => inner.MembersAsync(room, cancellationToken);

        public ValueTask<IReadOnlyList<string>> RoomsOfAsync(string user, CancellationToken cancellationToken) => inner.RoomsOfAsync(user, cancellationToken);
    }
}
