using TinyChat.Runtime;

namespace TinyChat.Chat;

/// <summary>A message in a user session's mailbox.</summary>
public abstract record SessionCommand;

/// <summary>A session message that expects a reply.</summary>
public abstract record SessionRequest<T> : SessionCommand, IRequest
{
    /// <summary>Where the session answers.</summary>
    public Reply<T> Reply { get; } = new();

    /// <inheritdoc />
    public void Fail(Exception reason) => Reply.Fail(reason);
}

/// <summary>
/// A connection of the user opens; the reply is the rooms the user has joined, in name order (what the connection's
/// greeting covers, so connecting takes one trip through the session), or null when this session is ending and a new
/// one must be found. A connection that is not <paramref name="Present"/> (one HTTP API request) acts as the user but
/// does not make the user online and receives nothing (its reply lists no room).
/// </summary>
public sealed record AttachConnection(IOutbox Outbox, bool Present = true) : SessionRequest<IReadOnlyList<string>?>;

/// <summary>A connection of the user closed.</summary>
public sealed record DetachConnection(IOutbox Outbox) : SessionCommand;

/// <summary>A guest's only connection ends: go offline, then leave every room; the reply comes once that is done.</summary>
public sealed record ForgetGuest(IOutbox Outbox) : SessionRequest<bool>;

/// <summary>
/// The user joins a room; null on success. <paramref name="Greeting"/>: what the room shows the joining connection
/// (<see cref="JoinRoom.Greeting"/>). <paramref name="Posted"/>: the join the connection posts to the room itself,
/// right after this, so the join does not wait for the session's loop; the session only awaits its outcome, and
/// whatever it is told after this (the connection closing, a kick) it handles after that outcome, as if it had
/// posted the join. Its reply is then the join's own.
/// </summary>
public sealed record UserJoins(string Room, JoinGreeting? Greeting = null, JoinRoom? Posted = null) : SessionRequest<ChatError?>;

/// <summary>The user leaves a room; null on success.</summary>
public sealed record UserLeaves(string Room) : SessionRequest<ChatError?>;

/// <summary>The user is typing a private message to <paramref name="To"/> (at most once per second per recipient).</summary>
public sealed record TypingTo(string To) : SessionCommand;

/// <summary>A moderator removed the user from a room: it is no longer joined.</summary>
public sealed record RoomLost(string Room) : SessionCommand;

/// <summary>The room was deleted (by an administrator): it is no longer among the user's rooms.</summary>
public sealed record ForgetRoom(string Room) : SessionCommand;

/// <summary>The rooms the user has joined.</summary>
public sealed record JoinedRooms : SessionRequest<IReadOnlyList<string>>;

/// <summary>
/// One online user: shared by all that user's connections, it owns the user's room membership on the user's
/// behalf and tells rooms when the user comes online and goes offline, and when a connection opens or closes while
/// the user stays online. Ends when the last connection closes.
/// </summary>
/// <remarks>
/// The joined-room set is loop state, rebuilt from the store on every start. The <see cref="Endpoint"/>
/// (the set of open connections) lives on the process object instead, because connections outlive a crashed
/// loop: a restart keeps delivering to them. The endpoint is the subscriber of the user's topic on the bus
/// from the first start until the session ends, so private messages and private typing reach it from anywhere.
/// Presence is decided here, once for every front door: the user is online while at least one connection that is
/// <see cref="AttachConnection.Present"/> is open. Requests (HTTP API calls) keep the session alive while they run
/// but never make the user appear, so a bot that only posts is never shown coming and going.
/// </remarks>
public sealed class UserSessionProcess(
    string user,
    int mailboxCapacity,
    IRoomStore rooms,
    RoomDirectory roomDirectory,
    TimeProvider time,
    IChatBus bus,
    IPresence presence,
    Action<UserSessionProcess> ended)
    : Process<SessionCommand>("session:" + user, mailboxCapacity)
{
    private static readonly TimeSpan TypingInterval = TimeSpan.FromSeconds(1);
    private readonly HashSet<string> joined = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> lastTyping = new(StringComparer.Ordinal);
    private readonly HashSet<IOutbox> requests = new(ReferenceEqualityComparer.Instance);
    private readonly TaskCompletionSource finished = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IDisposable? subscription;
    private bool ending;

    /// <summary>The user's name.</summary>
    public string User { get; } = user;

    /// <summary>Completes once the loop has ended for good (after the last connection closed: once its rooms were told).</summary>
    public Task Ended => finished.Task;

    /// <summary>The user's chat message budget, shared by all the user's connections; lives on the process object so a restart does not refill it.</summary>
    public TokenBucket? MessageBudget { get; init; }

    /// <summary>Where events for this user go.</summary>
    public UserEndpoint Endpoint { get; } = new(user, time.GetUtcNow(), presence);

    /// <inheritdoc />
    protected override async ValueTask StartAsync(CancellationToken cancellationToken)
    {
        if (!ending)
        {
            Endpoint.Removed ??= lost => TryPost(new RoomLost(lost));
            subscription ??= bus.Subscribe(ChatTopic.User(User), Endpoint);
        }

        joined.Clear();
        foreach (var room in await StoreUnavailableException.WaitOutAsync(ct => rooms.RoomsOfAsync(User, ct), time, cancellationToken).ConfigureAwait(false))
        {
            joined.Add(room);
        }

        // A first start has no connection yet (the first present one announces the user); a restart keeps its
        // connections, and rooms that missed a change while the loop was down catch up (the same endpoint is a no-op).
        if (Endpoint.Connections > 0 && !ending)
        {
            await TellRoomsAsync(new MemberOnline(User, Endpoint), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    protected override async ValueTask HandleAsync(SessionCommand message, CancellationToken cancellationToken)
    {
        switch (message)
        {
            case AttachConnection attach:
                if (!ending)
                {
                    await AttachAsync(attach, cancellationToken).ConfigureAwait(false);
                }

                attach.Reply.Complete(ending ? null : attach.Present ? JoinedInOrder() : []);
                break;
            case DetachConnection detach:
                await DetachAsync(detach.Outbox, cancellationToken).ConfigureAwait(false);
                break;
            case ForgetGuest forget:
                // A guest has one connection: detaching it ends the session; its memberships go with it.
                var rooms = joined.ToList();
                await DetachAsync(forget.Outbox, cancellationToken).ConfigureAwait(false);

                foreach (var room in rooms)
                {
                    await LeaveAsync(room, cancellationToken).ConfigureAwait(false);
                }

                forget.Reply.Complete(true);
                break;
            case UserJoins join:
                join.Reply.Complete(await JoinAsync(join, cancellationToken).ConfigureAwait(false));
                break;
            case UserLeaves leave:
                leave.Reply.Complete(await LeaveAsync(leave.Room, cancellationToken).ConfigureAwait(false));
                break;
            case TypingTo typing:
                var now = time.GetTimestamp();
                if (!lastTyping.TryGetValue(typing.To, out var last) || time.GetElapsedTime(last, now) >= TypingInterval)
                {
                    lastTyping[typing.To] = now;
                    bus.Publish(ChatTopic.User(typing.To), new ChatBusEvent(new TypingNotice(User, null, typing.To)));
                }

                break;
            case RoomLost lost:
                joined.Remove(lost.Room);
                break;
            case ForgetRoom forget:
                joined.Remove(forget.Room);
                break;
            case JoinedRooms list:
                list.Reply.Complete(JoinedInOrder());
                break;
            default:
                throw new InvalidOperationException($"session {User} cannot handle {message.GetType().Name}");
        }
    }

    private string[] JoinedInOrder() => [.. joined.Order(StringComparer.Ordinal)];

    // A store outage answers the user; it is no fault of this loop (restarting it would not help).
    private async Task<ChatError?> JoinAsync(UserJoins request, CancellationToken cancellationToken)
    {
        var room = request.Room;
        try
        {
            // A user with no present connection (an API request) becomes a member without appearing in the room.
            var join = request.Posted ?? new JoinRoom(User, Endpoint.Connections > 0 ? Endpoint : null, request.Greeting);
            if (request.Posted is null && await roomDirectory.PostAsync(room, join, cancellationToken).ConfigureAwait(false) is null)
            {
                return ChatError.RoomNotFound(room);
            }

            var error = await join.Reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (error is null)
            {
                joined.Add(room);
            }

            return error;
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }
    }

    private async Task<ChatError?> LeaveAsync(string room, CancellationToken cancellationToken)
    {
        try
        {
            var leave = new LeaveRoom(User);
            if (await roomDirectory.PostAsync(room, leave, cancellationToken).ConfigureAwait(false) is null)
            {
                return ChatError.RoomNotFound(room);
            }

            var error = await leave.Reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
            if (error is null)
            {
                joined.Remove(room);
            }

            return error;
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }
    }

    private async Task AttachAsync(AttachConnection attach, CancellationToken cancellationToken)
    {
        if (!attach.Present)
        {
            requests.Add(attach.Outbox);
            return;
        }

        // Rooms are told before the reply, so the new connection's greeting (asked of the rooms after it) sees it.
        var opened = Endpoint.Attach(attach.Outbox, time.GetUtcNow());
        await TellRoomsAsync(
            Endpoint.Connections == 1 ? new MemberOnline(User, Endpoint) : new MemberConnections(User, Endpoint, [opened], []),
            cancellationToken).ConfigureAwait(false);
    }

    private async Task DetachAsync(IOutbox outbox, CancellationToken cancellationToken)
    {
        if (!Endpoint.Detach(outbox, out var closed))
        {
            requests.Remove(outbox);
        }

        var lastConnection = Endpoint.Connections == 0 && requests.Count == 0;
        if (ending)
        {
            return;
        }

        if (lastConnection)
        {
            // Unregister first so a reconnecting tab starts a fresh session; rooms drop this endpoint only if it is
            // still the one they know, so the two sessions' notices cannot undo each other.
            ending = true;
            Unsubscribe();
            ended(this);
        }

        if (closed is not null)
        {
            await TellRoomsAsync(
                Endpoint.Connections == 0 ? new MemberOffline(User, Endpoint, Endpoint.Presence) : new MemberConnections(User, Endpoint, [], [closed]),
                cancellationToken).ConfigureAwait(false);
        }

        if (lastConnection)
        {
            StopAfterPending();
        }
    }

    // The rooms that are running; the others read who is online when they start.
    private async Task TellRoomsAsync(RoomCommand notice, CancellationToken cancellationToken)
    {
        foreach (var room in joined)
        {
            if (roomDirectory.TryFindLive(room) is { } process)
            {
                await process.PostAsync(notice, cancellationToken).ConfigureAwait(false);
            }
        }
    }

    /// <inheritdoc />
    protected override void Terminated(Exception? reason)
    {
        Unsubscribe();
        ended(this);
        finished.TrySetResult();
    }

    private void Unsubscribe() => Interlocked.Exchange(ref subscription, null)?.Dispose();
}
