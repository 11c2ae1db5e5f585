using TinyChat.Runtime;

namespace TinyChat.Chat;

/// <summary>A message in a room's mailbox.</summary>
public abstract record RoomCommand;

/// <summary>A room message that expects a reply.</summary>
public abstract record RoomRequest<T> : RoomCommand, IRequest
{
    // Made on first use unless given: a post with a listener would otherwise make a reply (and its task) for nothing.
    private Reply<T>? reply;

    /// <summary>Where the room answers (with a listener: see <see cref="IReplyListener{T}"/>).</summary>
    public Reply<T> Reply
    {
        get => reply ?? LazyInitializer.EnsureInitialized(ref reply, static () => new Reply<T>());
        init => reply = value;
    }

    /// <inheritdoc />
    public void Fail(Exception reason) => Reply.Fail(reason);
}

/// <summary>
/// A user joins the room; the reply is null on success. Without an endpoint the user is offline (joining through an
/// API request): a member who does not appear. With a <paramref name="Greeting"/> the room itself shows the joining
/// connection its welcome and greeting once the membership is durable, before the reply.
/// </summary>
public sealed record JoinRoom(string User, UserEndpoint? Endpoint, JoinGreeting? Greeting = null) : RoomRequest<ChatError?>;

/// <summary>
/// What a connection that joins a room is shown by the room's loop once the join is durable, in one trip through the
/// room: first what <paramref name="Welcome"/> queues on the connection (a front door's answer to the join, given the
/// room's details), then the greeting (<see cref="WhoIsHere.Greeting"/>) on <paramref name="Outbox"/>. Queued by the
/// loop, so no presence change announced after the join can overtake either. <paramref name="Welcome"/> runs on the
/// room's loop: it must only queue, never block.
/// </summary>
public sealed record JoinGreeting(IOutbox Outbox, Action<RoomDetails> Welcome);

/// <summary>A user leaves the room; the reply is null on success.</summary>
public sealed record LeaveRoom(string User) : RoomRequest<ChatError?>;

/// <summary>A member posts a text; the reply is its sequence number, given once it is durable and broadcast.</summary>
public sealed record PostToRoom(string User, string Text) : RoomRequest<Outcome<long>>;

/// <summary>
/// Who is online in the room; only members may ask. <paramref name="Greeting"/>: what a joining or connecting client is
/// shown (everyone, or only how many in a room too big to list); otherwise everyone in a small room, or the page of at
/// most <paramref name="Limit"/> names after <paramref name="After"/>. The room also queues the answer on
/// <paramref name="PushTo"/>, so that it reaches that connection before any presence change announced after it.
/// </summary>
public sealed record WhoIsHere(string User, bool Greeting = false, string? After = null, int? Limit = null, IOutbox? PushTo = null) : RoomRequest<Outcome<PresenceState>>;

/// <summary>The presence tick: announce the presence changes gathered since the last announcement.</summary>
public sealed record PresenceDue : RoomCommand
{
    /// <summary>The one instance (it carries nothing).</summary>
    public static PresenceDue Instance { get; } = new();
}

/// <summary>
/// <paramref name="Actor"/> acts in the room (invite, kick, ban, unban, mute, unmute, role, topic, edit, delete):
/// the room decides whether the actor's role allows it and, if so, stores the event and announces it; the reply
/// is the event's id in the room's order.
/// </summary>
public sealed record ActInRoom(string Actor, RoomAction Action) : RoomRequest<Outcome<long>>;

/// <summary>
/// One room action: its <see cref="RoomEventKind"/>, the user it is about, its text (topic, edited text, role
/// name), the message it refers to (edit, delete) and how long a mute lasts.
/// </summary>
public sealed record RoomAction(string Kind, string? Target = null, string? Text = null, long? RefersTo = null, TimeSpan? Duration = null);

/// <summary>What the room is (privacy, topic, roles), for a member or a server admin.</summary>
public sealed record DescribeRoom(string User) : RoomRequest<Outcome<RoomDetails>>;

/// <summary>A member is typing: tell the other online members (at most once per second per member).</summary>
public sealed record TypingInRoom(string User) : RoomCommand;

/// <summary>A member's user came online: deliver to this endpoint.</summary>
public sealed record MemberOnline(string User, UserEndpoint Endpoint) : RoomCommand;

/// <summary>
/// A member's user went offline (only if <paramref name="Endpoint"/> is still the one the room knows);
/// <paramref name="Left"/> is the user as the leave names it (the connections that closed), else the endpoint's presence now.
/// </summary>
public sealed record MemberOffline(string User, UserEndpoint Endpoint, PresenceEntry? Left = null) : RoomCommand;

/// <summary>A connection of a member who stays online opened or closed (only if <paramref name="Endpoint"/> is the one the room knows).</summary>
public sealed record MemberConnections(string User, UserEndpoint Endpoint, IReadOnlyList<ConnectionPresence> Opened, IReadOnlyList<ConnectionPresence> Closed) : RoomCommand;

/// <summary>The user's account was deleted (by an administrator): the user is no longer a member.</summary>
public sealed record ForgetMember(string User) : RoomCommand;

/// <summary>The room was deleted (by an administrator): its online members see everyone leave, then the loop ends.</summary>
public sealed record RoomDeleted : RoomCommand;

/// <summary>Something published on the room's topic by someone other than this loop (another node's room): deliver it to the members here.</summary>
public sealed record FromBus(ChatBusMessage Message) : RoomCommand;

/// <summary>Another node's presence rows changed for these users: re-decide whether each member is shown online.</summary>
public sealed record OthersPresenceChanged(IReadOnlyList<string> Users) : RoomCommand;

/// <summary>
/// The room retires if no member is online here and no command reached it for <paramref name="After"/>: its loop
/// handles what is already queued and ends; the next use starts a new one from the store.
/// </summary>
public sealed record RetireIfIdle(TimeSpan After) : RoomCommand;

/// <summary>
/// The node is shutting down: the room commits and delivers every post and action queued before this, then refuses
/// later ones (<see cref="ChatError.ShuttingDown"/>), so that nothing is shown after its members' connections close.
/// The reply comes once everything before it is delivered.
/// </summary>
public sealed record StopAccepting : RoomRequest<bool>;

/// <summary>
/// One chat room on this node: owns its member set, the order in which its posts reach the store and the
/// delivery of the room's events to its members here. Every message is durable before any member sees it;
/// posts that queue up while one batch is being written form the next batch, which goes to the store behind it at
/// once (two batches in flight at most) and is published only after it.
/// </summary>
/// <remarks>
/// <para>
/// The store numbers each batch in the transaction that inserts it; the room publishes the committed batch on
/// the room's topic of the <see cref="IChatBus"/> and, as the topic's subscriber on this node, delivers it to
/// its online members. Its own batches come back synchronously, inside the publish call (the bus contract), so
/// they are delivered by this loop at once; anything else published on the topic (another node's room, in a
/// cluster) enters through the mailbox as <see cref="FromBus"/>, so one loop delivers everything in order.
/// </para>
/// <para>
/// Exactly once, in id order, with no gap, whatever the provider: the loop remembers the last id it delivered
/// and delivers only what follows it. A batch that starts further on (another node's batch whose notification
/// was lost or is still on its way, or the room's own batch committed after another node's) is preceded by a
/// read of the gap from the store; ids already delivered are skipped; <see cref="BusResumed"/> (the bus lost
/// contact with the other nodes for a while) reads everything after the last id. Ids the store no longer has
/// (pruned by retention) are skipped.
/// </para>
/// <para>
/// Loop state (members, what presence the members were shown, the last delivered id) is rebuilt in
/// <see cref="StartAsync"/> from the store and from the live sessions (who is online), so a restart loses nothing
/// that was acknowledged. The room never awaits a session or a socket: delivery is
/// <see cref="UserEndpoint.Deliver"/>, which never blocks.
/// </para>
/// </remarks>
public sealed class RoomProcess(
    string room,
    int mailboxCapacity,
    IRoomStore rooms,
    IMessageStore messages,
    Func<string, UserEndpoint?> findOnline,
    TimeProvider time,
    IChatBus bus,
    IPresence presence,
    Action<RoomProcess>? terminated = null)
    : Process<RoomCommand>("room:" + room, mailboxCapacity), IChatBusSubscriber
{
    private const int MaxBatch = 512;

    /// <summary>Most names one <c>who</c> page holds.</summary>
    public const int MaxWhoPage = 1000;

    // At most this many batches at the store (CommitsInFlight): while one is written the next forms and waits behind
    // it there, so a room's rate is not one batch per commit round trip. Two keep the store busy.
    private const int MaxStoring = 2;
    private const int CatchUpPage = 512;
    private static readonly TimeSpan TypingInterval = TimeSpan.FromSeconds(1);
    private readonly Dictionary<string, long> lastTyping = new(StringComparer.Ordinal);
    private readonly Dictionary<string, UserEndpoint?> members = new(StringComparer.Ordinal);

    // Members this room's local members were last told are online (presence_state, then diffs).
    private readonly HashSet<string> shown = new(StringComparer.Ordinal);

    // Users whose presence may have changed since the last announcement, each with how it moves the count of those
    // shown (+1 online and not shown, -1 shown and no longer online, 0) when last looked at, and their sum: a greeting
    // counts who is online now without walking a crowd that joined within the tick. How a leave names those who went
    // offline.
    private readonly Dictionary<string, int> presenceDue = new(StringComparer.Ordinal);
    private int dueShift;
    private readonly Dictionary<string, PresenceEntry> leavingAs = new(StringComparer.Ordinal);
    private ITimer? presenceTimer;
    private int presenceTickQueued;
    private long lastAnnounced;
    private bool announcedOnce;
    private readonly List<JoinRoom> joins = [];
    private readonly Queue<StoringBatch> storing = new(MaxStoring);
    private readonly ChatTopic topic = ChatTopic.Room(room);
    private UserEndpoint[]? recipients;
    private IDisposable? subscription;
    private ChatBusMessage? publishing;
    private long lastDelivered;
    private int starts;
    private readonly TaskCompletionSource ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private RoomAccess access = RoomAccess.Open;
    private bool accessStale;
    private volatile bool deleted;
    private volatile bool retiring;

    // Set by StopAccepting (or at start once the node is stopping): posts and actions are refused from then on.
    private bool stoppedAccepting;
    private long lastActive = time.GetTimestamp();

    /// <summary>
    /// Batches the room may have at the store at once: 1 waits for each commit before forming the next, so batches
    /// are as large as possible; 2 (at most) hands the next batch over while the previous one is written. Either way
    /// the newest batch takes the posts that arrive until the store starts writing it (<see cref="RoomBatch"/>).
    /// </summary>
    public int CommitsInFlight { get; init; } = 1;

    /// <summary>The room's name.</summary>
    public string Room { get; } = room;

    /// <summary>Whether a user is a server admin (acts in every room as if it owned it).</summary>
    public Func<string, bool> IsAdmin { get; init; } = static _ => false;

    /// <summary>
    /// The last id a retired predecessor delivered, when it ended with members online here: this loop delivers
    /// what was committed since instead of starting from the store's newest id.
    /// </summary>
    public long? ResumeAfter { get; init; }

    /// <summary>
    /// The loop is ending for good (retired or deleted): it still handles what was queued before, refuses later
    /// posts, and its successor may start only once <see cref="Ended"/> completes.
    /// </summary>
    public bool IsEnding => retiring || deleted;

    /// <summary>
    /// How long presence changes after an announcement are gathered before the next one (zero: each at once). The first
    /// change in a quiet room is announced at once; a crowd coming and going is announced once per tick.
    /// </summary>
    public TimeSpan PresenceTick { get; init; }

    /// <summary>
    /// While the room announces counts, changes are gathered for at least this long (the longer of this and
    /// <see cref="PresenceTick"/>): each announcement there goes to every member online, so its rate is what a
    /// crowd's coming and going costs.
    /// </summary>
    public TimeSpan CountTick { get; init; }

    /// <summary>Above this many members online the room announces how many instead of who (<see cref="PresenceCount"/>).</summary>
    public int FullPresenceMaxMembers { get; init; } = int.MaxValue;

    /// <summary>
    /// Whether the node is shutting down: a loop that starts (or restarts) then refuses posts and actions at once, as
    /// if it had handled <see cref="StopAccepting"/>.
    /// </summary>
    public Func<bool> NodeStopping { get; init; } = static () => false;

    /// <summary>The loop retired because the room was idle (not deleted).</summary>
    public bool IsRetiring => retiring;

    /// <summary>Completes once the loop has ended for good, left the bus and given up its name.</summary>
    public Task Ended => ended.Task;

    /// <summary>When the loop last handled a command from this node (a <see cref="TimeProvider"/> timestamp).</summary>
    public long LastActive => Volatile.Read(ref lastActive);

    /// <summary>After the loop ended: whether members were online here (they joined or came online while it retired).</summary>
    public bool EndedWithListeners { get; private set; }

    /// <summary>After the loop ended: the last id it delivered.</summary>
    public long LastDelivered => lastDelivered;

    /// <inheritdoc />
    protected override async ValueTask StartAsync(CancellationToken cancellationToken)
    {
        // Subscribed before the newest id is read: a batch committed in between comes through the mailbox and is
        // skipped or delivered by id, instead of falling between the read and the subscription.
        subscription ??= bus.Subscribe(topic, this);
        CrashPoints.Pass("room-start:" + Room);
        members.Clear();
        foreach (var user in await StoreUnavailableException.WaitOutAsync(ct => rooms.MembersAsync(Room, ct), time, cancellationToken).ConfigureAwait(false))
        {
            members[user] = findOnline(user);
        }

        recipients = null;
        lastTyping.Clear();
        publishing = null;
        var resume = starts == 0 ? ResumeAfter : null;
        lastDelivered = resume ?? await StoreUnavailableException.WaitOutAsync(ct => messages.LastRoomIdAsync(Room, ct), time, cancellationToken).ConfigureAwait(false);
        access = await StoreUnavailableException.WaitOutAsync(ct => rooms.AccessAsync(Room, ct), time, cancellationToken).ConfigureAwait(false) ?? RoomAccess.Open;
        accessStale = false;
        stoppedAccepting = NodeStopping();
        StopPresenceTimer();
        ClearDue();
        leavingAs.Clear();
        var state = CurrentPresence();
        shown.Clear();
        foreach (var entry in state.Online)
        {
            shown.Add(entry.User);
        }

        if (++starts > 1)
        {
            // Presence changes that died with the previous loop were never announced: resynchronise everyone.
            Broadcast(Counted ? new PresenceState(Room, []) { Total = shown.Count, Counted = true } : state);
        }

        if (resume is not null)
        {
            // What other nodes committed between the predecessor's last delivery and this subscription.
            await CatchUpAsync(long.MaxValue, cancellationToken).ConfigureAwait(false);
        }

        if (retiring)
        {
            // Restarted after a fault while retiring: finish what was queued and end; a successor takes over.
            StopAfterPending();
        }
    }

    /// <inheritdoc />
    protected override async ValueTask HandleAsync(RoomCommand message, CancellationToken cancellationToken)
    {
        if (deleted)
        {
            // Queued behind the deletion: the room is gone, so nothing may reach the store in its name.
            (message as IRequest)?.Fail(new ProcessStoppedException(Name));
            return;
        }

        if (stoppedAccepting && message is PostToRoom or ActInRoom)
        {
            // Nobody would see it: the connections close once every room has stopped accepting.
            ((RoomRequest<Outcome<long>>)message).Reply.Complete(ChatError.ShuttingDown());
            return;
        }

        if (message is RetireIfIdle idle)
        {
            RetireIfIdle(idle.After);
            return;
        }

        if (message is not (FromBus or OthersPresenceChanged))
        {
            // Only this node's own use keeps the room: what other nodes publish here concerns members online here,
            // and while there are any the room does not retire anyway.
            Volatile.Write(ref lastActive, time.GetTimestamp());
        }

        if (accessStale && message is PostToRoom or JoinRoom or ActInRoom or DescribeRoom)
        {
            await ReloadAccessAsync(cancellationToken).ConfigureAwait(false);
        }

        switch (message)
        {
            case ActInRoom act:
                await ActAsync(act, cancellationToken).ConfigureAwait(false);
                break;
            case DescribeRoom describe:
                describe.Reply.Complete(members.ContainsKey(describe.User) || IsAdmin(describe.User)
                    ? Outcome<RoomDetails>.Ok(Details(describe.User))
                    : ChatError.NotAMember(Room));
                break;
            case PostToRoom post:
                await PostBatchAsync(post, cancellationToken).ConfigureAwait(false);
                break;
            case StopAccepting stop:
                // Batches reach the store and are published before any other message is handled, so everything
                // queued before this is delivered by now.
                stoppedAccepting = true;
                stop.Reply.Complete(true);
                break;
            case JoinRoom join:
                await JoinBatchAsync(join, cancellationToken).ConfigureAwait(false);
                break;
            case LeaveRoom leave:
                await LeaveAsync(leave, cancellationToken).ConfigureAwait(false);
                break;
            case MemberOnline online:
                if (members.TryGetValue(online.User, out var before) && !ReferenceEquals(before, online.Endpoint))
                {
                    SetMember(online.User, online.Endpoint);
                    PresenceChanged(online.User);
                }

                break;
            case MemberOffline offline:
                if (members.TryGetValue(offline.User, out var known) && ReferenceEquals(known, offline.Endpoint))
                {
                    SetMember(offline.User, null);
                    PresenceChanged(offline.User, offline.Left ?? offline.Endpoint.Presence);
                }

                break;
            case MemberConnections connections:
                // Only for a member shown by name: a member whose appearance is still due is announced with the
                // connections it has then, and a room too big to list names no one.
                if (members.TryGetValue(connections.User, out var current) && ReferenceEquals(current, connections.Endpoint)
                    && !Counted && shown.Contains(connections.User) && !presenceDue.ContainsKey(connections.User))
                {
                    Broadcast(new PresenceConnectionDiff(Room, connections.User, connections.Opened, connections.Closed));
                }

                break;
            case OthersPresenceChanged changed:
                PresenceChanged(changed.Users);
                break;
            case WhoIsHere who:
                if (!members.ContainsKey(who.User))
                {
                    who.Reply.Complete(ChatError.NotAMember(Room));
                    break;
                }

                var answer = Who(who);
                who.PushTo?.TryDeliver(answer);
                who.Reply.Complete(Outcome<PresenceState>.Ok(answer));
                break;
            case TypingInRoom typing:
                Typing(typing.User);
                break;
            case FromBus delivery:
                await FromOtherNodeAsync(delivery.Message, cancellationToken).ConfigureAwait(false);
                break;
            case ForgetMember forget:
                if (members.Remove(forget.User, out var gone))
                {
                    recipients = null;
                    Announce([forget.User], forget.User, gone?.Presence);
                    Recount(forget.User);
                }

                break;
            case RoomDeleted:
                var everyone = CurrentPresence();
                if (Counted)
                {
                    Broadcast(new PresenceCount(Room, 0));
                }
                else if (everyone.Online.Count > 0)
                {
                    Broadcast(new PresenceDiff(Room, [], everyone.Online));
                }

                StopPresenceTimer();
                ClearDue();

                deleted = true;
                members.Clear();
                shown.Clear();
                recipients = null;
                Interlocked.Exchange(ref subscription, null)?.Dispose();
                StopAfterPending();
                break;
            case PresenceDue:
                Volatile.Write(ref presenceTickQueued, 0);
                StopPresenceTimer();
                AnnouncePresence();
                break;
            default:
                throw new InvalidOperationException($"room {Room} cannot handle {message.GetType().Name}");
        }

        AnnounceSoon();
    }

    private RoomDetails Details(string user) => new(
        Room,
        access.IsPrivate,
        access.Topic,
        access.Owner,
        [.. access.Moderators.Order(StringComparer.Ordinal)],
        access.RoleOf(user, IsAdmin(user)));

    private void RetireIfIdle(TimeSpan after)
    {
        if (retiring || Recipients().Length > 0 || time.GetElapsedTime(LastActive) < after)
        {
            return;
        }

        // Commands queued before the mailbox closes are still handled by this loop, which is still the room's
        // only one (its name is released only when it ends); later posts are refused and the directory sends
        // them to the successor it starts once this loop has ended.
        retiring = true;
        StopAfterPending();
    }

    private async ValueTask JoinBatchAsync(JoinRoom first, CancellationToken cancellationToken)
    {
        // A crowd joining at once (a restart, a class logging in) is written in one group commit and announced
        // in one presence diff, instead of one commit and one room-wide diff per person.
        joins.Clear();
        joins.Add(first);
        while (joins.Count < MaxBatch && TryTakeNext(out JoinRoom next))
        {
            joins.Add(next);
        }

        var accepted = new List<JoinRoom>(joins.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var join in joins)
        {
            if (members.ContainsKey(join.User) || !seen.Add(join.User))
            {
                join.Reply.Complete(ChatError.AlreadyJoined(Room));
            }
            else if (!IsAdmin(join.User) && access.Banned.Contains(join.User))
            {
                join.Reply.Complete(ChatError.Banned(Room));
            }
            else if (access.IsPrivate && !IsAdmin(join.User) && !access.Invited.Contains(join.User) && !string.Equals(access.Owner, join.User, StringComparison.Ordinal))
            {
                join.Reply.Complete(ChatError.NotInvited(Room));
            }
            else
            {
                accepted.Add(join);
            }
        }

        if (accepted.Count == 0)
        {
            return;
        }

        bool[] added;
        try
        {
            added = await rooms.AddMembersAsync(Room, [.. accepted.Select(j => j.User)], cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            foreach (var join in accepted)
            {
                join.Reply.Fail(ex);
            }

            // An outage is no fault of the loop: its members are unchanged (a join that did commit before the
            // outage is picked up by the next start or join). Anything else restarts it from the store.
            if (ex is StoreUnavailableException)
            {
                return;
            }

            throw;
        }

        var joined = new List<string>(accepted.Count);
        foreach (var join in accepted)
        {
            SetMember(join.User, join.Endpoint);
            joined.Add(join.User);

            // A user joining through an API request (no endpoint) appears only if connected on another node.
            PresenceChanged(join.User);
        }

        // Other nodes' processes of this room learn the new members (the store has them already).
        Publish(new MembershipChanged(Room, joined, []));

        // One greeting for the whole batch: nothing changes between its joiners' welcomes, and a shared event is
        // encoded once per front door instead of once per joiner.
        PresenceState? greetingNow = null;
        for (var i = 0; i < accepted.Count; i++)
        {
            // False: another node recorded the membership first (its notice is still on its way).
            if (!added[i])
            {
                accepted[i].Reply.Complete(ChatError.AlreadyJoined(Room));
                continue;
            }

            if (accepted[i].Greeting is { } greeting)
            {
                // Durable now: the welcome, then the greeting, before any presence change this batch announces.
                greeting.Welcome(Details(accepted[i].User));
                greeting.Outbox.TryDeliver(greetingNow ??= GreetingNow());
            }

            accepted[i].Reply.Complete(null);
        }
    }

    /// <summary>
    /// A store may resume the room on its own thread once a batch is durable (SQLite's writer does, so that the
    /// batch's fan-out does not wait for a pool worker behind everything queued there, the previous message's
    /// fan-out first): only that hand-over into outboxes runs there, and the rest of the loop goes back to the pool
    /// at once, because the store's next commit waits for its thread.
    /// </summary>
    private static async ValueTask LeaveStoreThreadAsync()
    {
        if (!Thread.CurrentThread.IsThreadPoolThread)
        {
            await Task.Yield();
        }
    }

    private async ValueTask LeaveAsync(LeaveRoom leave, CancellationToken cancellationToken)
    {
        try
        {
            if (!members.ContainsKey(leave.User) && !await MemberInStoreAsync(leave.User, cancellationToken).ConfigureAwait(false))
            {
                leave.Reply.Complete(ChatError.NotAMember(Room));
                return;
            }

            await rooms.RemoveMemberAsync(Room, leave.User, cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            // Nothing changed; the loop's state is still the store's, so it carries on.
            leave.Reply.Fail(ex);
            return;
        }
        var endpoint = members[leave.User];

        // At once, while the leaver is still a recipient: the user's other tabs drop the room's presence.
        Announce([leave.User], leave.User, presence.Find(leave.User) ?? endpoint?.Presence);
        members.Remove(leave.User);
        Recount(leave.User);
        recipients = null;
        Publish(new MembershipChanged(Room, [], [leave.User]));
        leave.Reply.Complete(null);
    }

    /// <summary>
    /// Whether the store has the user as a member although this loop does not (the user joined through another
    /// node and its notice has not arrived yet); if so the loop takes the member in now.
    /// </summary>
    private async ValueTask<bool> MemberInStoreAsync(string user, CancellationToken cancellationToken)
    {
        var joinedRooms = await rooms.RoomsOfAsync(user, cancellationToken).ConfigureAwait(false);
        if (!joinedRooms.Contains(Room, StringComparer.Ordinal))
        {
            return false;
        }

        SetMember(user, findOnline(user));
        PresenceChanged(user);
        return true;
    }

    private async ValueTask<bool> PostingMemberAsync(PostToRoom post, CancellationToken cancellationToken)
    {
        try
        {
            if (await MemberInStoreAsync(post.User, cancellationToken).ConfigureAwait(false))
            {
                return true;
            }

            post.Reply.Complete(ChatError.NotAMember(Room));
        }
        catch (StoreUnavailableException ex)
        {
            post.Reply.Fail(ex);
        }

        return false;
    }

    private PresenceEntry Gone(string user) => new(user, time.GetUtcNow(), 0);

    // Whether the members here were last shown a count rather than names.
    private bool Counted => shown.Count > FullPresenceMaxMembers;

    private void PresenceChanged(string user, PresenceEntry? leaving = null)
    {
        Due(user);
        if (leaving is not null)
        {
            leavingAs[user] = leaving;
        }
    }

    private void PresenceChanged(IEnumerable<string> users)
    {
        foreach (var user in users)
        {
            Due(user);
        }
    }

    // Every change to a member's endpoint here comes with a PresenceChanged, and so does one to another node's rows
    // (OthersPresenceChanged): the shift is read then, not walked again for every greeting.
    private void Due(string user)
    {
        var shift = (members.TryGetValue(user, out var endpoint) && IsOnline(user, endpoint) ? 1 : 0) - (shown.Contains(user) ? 1 : 0);
        dueShift += presenceDue.TryGetValue(user, out var was) ? shift - was : shift;
        presenceDue[user] = shift;
    }

    // After a change to shown or the members outside a tick's announcement (a leave, a removal).
    private void Recount(string user)
    {
        if (presenceDue.ContainsKey(user))
        {
            Due(user);
        }
    }

    private void ClearDue()
    {
        presenceDue.Clear();
        dueShift = 0;
    }

    // After every command: what changed is announced now if the room announced nothing for a tick, else on the tick.
    private void AnnounceSoon()
    {
        if (presenceDue.Count == 0 || presenceTimer is not null)
        {
            return;
        }

        var tick = Counted && CountTick > PresenceTick ? CountTick : PresenceTick;
        var since = announcedOnce ? time.GetElapsedTime(lastAnnounced) : TimeSpan.MaxValue;
        if (since >= tick)
        {
            AnnouncePresence();
            return;
        }

        // Periodic: a tick whose command found the mailbox full is posted on the next one.
        presenceTimer = time.CreateTimer(static state => ((RoomProcess)state!).PresenceTickFired(), this, tick - since, tick);
    }

    // On a timer thread: never touches the loop's state.
    private void PresenceTickFired()
    {
        if (Interlocked.Exchange(ref presenceTickQueued, 1) == 0 && TryPost(PresenceDue.Instance) != PostResult.Accepted)
        {
            Volatile.Write(ref presenceTickQueued, 0);
        }
    }

    private void StopPresenceTimer()
    {
        presenceTimer?.Dispose();
        presenceTimer = null;
    }

    private void AnnouncePresence()
    {
        lastAnnounced = time.GetTimestamp();
        announcedOnce = true;
        if (presenceDue.Count > 0)
        {
            Announce(presenceDue.Keys);
            ClearDue();
            leavingAs.Clear();
        }
    }

    /// <summary>
    /// Compares, for each user, whether the members here should see them online (a member with a live endpoint
    /// here, or with a row on another node) with what they were last shown, and announces the difference: by name in
    /// a room small enough to list, else as a count. <paramref name="gone"/> is a user who is no longer shown
    /// whatever the room knows (leaving, removed), named in the leave as <paramref name="goneAs"/>.
    /// </summary>
    private void Announce(IEnumerable<string> users, string? gone = null, PresenceEntry? goneAs = null)
    {
        var wasCounted = Counted;
        List<PresenceEntry>? joins = null;
        List<PresenceEntry>? leaves = null;
        foreach (var user in users)
        {
            UserEndpoint? endpoint = null;
            var online = !string.Equals(user, gone, StringComparison.Ordinal) && members.TryGetValue(user, out endpoint) && IsOnline(user, endpoint);
            if (online && shown.Add(user))
            {
                (joins ??= []).Add(Appearing(user, endpoint));
            }
            else if (!online && shown.Remove(user))
            {
                (leaves ??= []).Add(
                    string.Equals(user, gone, StringComparison.Ordinal) && goneAs is not null ? goneAs
                    : leavingAs.TryGetValue(user, out var named) ? named
                    : Gone(user));
            }
        }

        if (joins is null && leaves is null)
        {
            return;
        }

        var counted = Counted;
        if ((wasCounted || counted) && gone is not null && leaves?.Find(l => string.Equals(l.User, gone, StringComparison.Ordinal)) is { } own)
        {
            // Whoever leaves a room too big to list still hears their own leave, so their other tabs drop it.
            members.GetValueOrDefault(gone)?.Deliver(new PresenceDiff(Room, [], [own]));
        }

        if (!wasCounted && !counted)
        {
            Broadcast(new PresenceDiff(Room, joins ?? [], leaves ?? []));
        }
        else if (counted && !wasCounted)
        {
            // The list grew too long to keep: whoever keeps one empties it (those who stayed and those who just
            // left), then counts.
            var listed = new List<PresenceEntry>(shown.Count);
            var joined = joins?.Select(j => j.User).ToHashSet(StringComparer.Ordinal);
            foreach (var user in shown)
            {
                if (joined is null || !joined.Contains(user))
                {
                    listed.Add(Appearing(user, members.GetValueOrDefault(user)));
                }
            }

            listed.AddRange(leaves ?? []);
            Broadcast(new PresenceDiff(Room, [], listed) { Relisting = true });
            Broadcast(new PresenceCount(Room, shown.Count));
        }
        else if (counted)
        {
            Broadcast(new PresenceCount(Room, shown.Count));
        }
        else
        {
            // Small enough to list again: everyone shown, by name.
            var listed = new List<PresenceEntry>(shown.Count);
            foreach (var user in shown)
            {
                listed.Add(Appearing(user, members.GetValueOrDefault(user)));
            }

            Broadcast(new PresenceDiff(Room, listed, []) { Relisting = true });
        }
    }

    // What a who asks for: a greeting (the names, or only how many in a room too big to list), everyone in a room
    // small enough, or one page of names in order.
    private PresenceState Who(WhoIsHere who)
    {
        if (who.Greeting)
        {
            return GreetingNow();
        }

        var everyone = CurrentPresence();
        if (who.After is null && who.Limit is null && everyone.Online.Count <= FullPresenceMaxMembers)
        {
            return everyone;
        }

        var online = everyone.Online;
        var limit = Math.Clamp(who.Limit ?? Math.Min(FullPresenceMaxMembers, MaxWhoPage), 1, MaxWhoPage);
        var start = 0;
        if (who.After is { } after)
        {
            // The first name after the cursor, in the same ordinal order the list is sorted in.
            var low = 0;
            var high = online.Count;
            while (low < high)
            {
                var middle = (low + high) / 2;
                if (string.CompareOrdinal(online[middle].User, after) <= 0)
                {
                    low = middle + 1;
                }
                else
                {
                    high = middle;
                }
            }

            start = low;
        }

        var count = Math.Min(limit, online.Count - start);
        var page = new PresenceEntry[count];
        for (var i = 0; i < count; i++)
        {
            page[i] = online[start + i];
        }

        return new PresenceState(Room, page)
        {
            Total = online.Count,
            Paged = true,
            Next = start + count < online.Count ? page[^1].User : null,
        };
    }

    // Everyone by name, or only how many in a room too big to list.
    private PresenceState GreetingNow() =>
        Counted ? new PresenceState(Room, []) { Total = OnlineNow(), Counted = true } : CurrentPresence();

    // The user as a join names it: the merge over all nodes, with this node's connections named one by one.
    private PresenceEntry Appearing(string user, UserEndpoint? endpoint)
    {
        var here = endpoint?.Presence;
        return presence.Find(user) is { } merged
            ? here is null ? merged : merged with { Named = here.Named }
            : here ?? OnOtherNodes(user) ?? Gone(user);
    }

    // How many are online now, where shown lags by up to a tick: a joiner greeted before the tick counts itself (and
    // whoever else changed since).
    private int OnlineNow() => shown.Count + dueShift;

    private bool IsOnline(string user, UserEndpoint? endpoint) =>
        endpoint is not null || OnOtherNodes(user) is not null;

    private PresenceState CurrentPresence()
    {
        // Members connected here count with their presence over all nodes; members the room knows no local
        // endpoint for count when another node has them online, and so do members whose last connection here has
        // just closed (their session tells the room only after it has let go of the connection).
        var online = new List<PresenceEntry>();
        foreach (var (user, endpoint) in members)
        {
            if (endpoint is { Connections: > 0 })
            {
                // The table's merge (other nodes' connections too), with this node's connections named.
                var here = endpoint.Presence;
                online.Add(presence.Find(user) is { } merged ? merged with { Named = here.Named } : here);
            }
            else if (OnOtherNodes(user) is { } elsewhere)
            {
                online.Add(elsewhere);
            }
        }

        online.Sort((a, b) => string.CompareOrdinal(a.User, b.User));
        return new PresenceState(Room, online);
    }

    private PresenceEntry? OnOtherNodes(string user)
    {
        var rows = presence.RowsOf(user);
        if (rows.Count == 0)
        {
            return null;
        }

        List<NodePresence>? others = null;
        foreach (var row in rows)
        {
            if (!string.Equals(row.Node, presence.Node, StringComparison.Ordinal))
            {
                (others ??= []).Add(row);
            }
        }

        return others is null ? null : NodePresence.Merge(user, others);
    }

    private void Broadcast(ChatEvent chatEvent)
    {
        foreach (var endpoint in Recipients())
        {
            endpoint.Deliver(chatEvent);
        }
    }

    private void Typing(string user)
    {
        if (!members.TryGetValue(user, out var typist) || typist is null)
        {
            return;
        }

        var now = time.GetTimestamp();
        if (lastTyping.TryGetValue(user, out var last) && time.GetElapsedTime(last, now) < TypingInterval)
        {
            return;
        }

        lastTyping[user] = now;
        Publish(new ChatBusEvent(new TypingNotice(user, Room, null)));
    }

    private void Publish(ChatBusMessage message)
    {
        publishing = message;
        try
        {
            bus.Publish(topic, message);
        }
        finally
        {
            publishing = null;
        }
    }

    /// <inheritdoc />
    void IChatBusSubscriber.Receive(ChatTopic from, ChatBusMessage message)
    {
        // Only this loop's own publication can be the object in 'publishing', and the bus hands it back on this
        // loop's thread: deliver now. Anything else comes from another thread and must wait its turn in the mailbox.
        if (ReferenceEquals(message, publishing))
        {
            DeliverHere(message);
        }
        else
        {
            TryPost(new FromBus(message));
        }
    }

    private async ValueTask FromOtherNodeAsync(ChatBusMessage message, CancellationToken cancellationToken)
    {
        switch (message)
        {
            case CommittedMessages batch when batch.Messages.Count > 0:
                var first = batch.Messages[0].Id;
                if (batch.Messages[^1].Id <= lastDelivered)
                {
                    return;
                }

                if (first > lastDelivered + 1 && !await CatchUpAsync(first - 1, cancellationToken).ConfigureAwait(false))
                {
                    return;
                }

                DeliverHere(batch);
                break;
            case BusResumed:
                await CatchUpAsync(long.MaxValue, cancellationToken).ConfigureAwait(false);
                break;
            case MembershipChanged change:
                foreach (var user in change.Joined)
                {
                    if (!members.ContainsKey(user))
                    {
                        SetMember(user, findOnline(user));
                    }
                }

                foreach (var user in change.Left)
                {
                    if (members.Remove(user))
                    {
                        recipients = null;
                    }
                }

                PresenceChanged([.. change.Joined, .. change.Left]);
                break;
            default:
                DeliverHere(message);
                break;
        }
    }

    /// <summary>
    /// Reads from the store and delivers what follows the last delivered id, up to <paramref name="upTo"/>
    /// (everything there is for <see cref="long.MaxValue"/>). Ids the store no longer has are skipped.
    /// </summary>
    private async ValueTask<bool> CatchUpAsync(long upTo, CancellationToken cancellationToken)
    {
        while (lastDelivered < upTo)
        {
            IReadOnlyList<RoomMessage>? page;
            try
            {
                page = await messages.RoomHistoryAsync(Room, new HistoryQuery(null, lastDelivered, CatchUpPage), cancellationToken).ConfigureAwait(false);
            }
            catch (StoreUnavailableException)
            {
                // The gap stays open: the next batch or the bus resuming reads it once the store is back.
                return false;
            }

            var wanted = page?.Where(m => m.Id > lastDelivered && m.Id <= upTo).ToList() ?? [];
            if (wanted.Count > 0)
            {
                DeliverHere(new CommittedMessages(Room, wanted));
            }

            if (page is null || page.Count < CatchUpPage || wanted.Count == 0)
            {
                break;
            }
        }

        if (upTo != long.MaxValue && lastDelivered < upTo)
        {
            lastDelivered = upTo;
        }

        return true;
    }

    private void DeliverHere(ChatBusMessage message)
    {
        // Not for a MembershipChanged: the list is rebuilt after a membership change, and a join batch publishes one.
        switch (message)
        {
            case CommittedMessages batch:
                // Exactly once: whatever a gap read delivered already is not delivered again. Ids in a batch are
                // consecutive, so what is left is a suffix.
                var messages = batch.Messages;
                var first = 0;
                while (first < messages.Count && messages[first].Id <= lastDelivered)
                {
                    first++;
                }

                if (first == messages.Count)
                {
                    break;
                }

                lastDelivered = messages[^1].Id;
                for (var i = first; i < messages.Count; i++)
                {
                    if (RoomEventKind.ChangesAccess(messages[i].Kind))
                    {
                        // Another node's (or this loop's) event changed who may do what: read it back before the next decision.
                        accessStale = true;
                    }
                }

                var delivered = 0;

                // Member by member, the whole batch as one item: one queue write and one wake-up of the connection's
                // writer per batch, which sends it in one write (message by message, the writer could wake on the
                // first and race the rest: 1.5-2x the TCP segments per delivery were measured that way round).
                // One array of the events per batch (not per member), typed as what the outboxes read: reading a
                // RoomMessage list through IReadOnlyList<ChatEvent> would take the variant interface path per event.
                var events = new ChatEvent[messages.Count - first];
                for (var i = first; i < messages.Count; i++)
                {
                    events[i - first] = messages[i];
                }

                var fresh = new EventBatch(events);

                foreach (var endpoint in Recipients())
                {
                    delivered += endpoint.DeliverBatch(fresh);
                }

                ChatMetrics.Deliveries.Add(delivered);

                break;
            case ChatBusEvent { Event: TypingNotice notice }:
                // Everyone but the typist, on whichever node the typist is.
                foreach (var endpoint in Recipients())
                {
                    if (!string.Equals(endpoint.User, notice.User, StringComparison.Ordinal))
                    {
                        endpoint.Deliver(notice);
                    }
                }

                break;
            case ChatBusEvent single:
                foreach (var endpoint in Recipients())
                {
                    endpoint.Deliver(single.Event);
                }

                break;
        }
    }

    private void SetMember(string user, UserEndpoint? endpoint)
    {
        members[user] = endpoint;
        recipients = null;
    }

    private UserEndpoint[] Recipients()
    {
        // Rebuilt at most once per batch after membership changed, so mass joins stay O(N).
        if (recipients is null)
        {
            var online = new List<UserEndpoint>(members.Count);
            foreach (var endpoint in members.Values)
            {
                if (endpoint is not null)
                {
                    online.Add(endpoint);
                }
            }

            recipients = [.. online];
        }

        return recipients;
    }

    private async ValueTask PostBatchAsync(PostToRoom first, CancellationToken cancellationToken)
    {
        // A post taken from the mailbox that found the last batch closed and no room at the store for another.
        PostToRoom? waiting = null;
        try
        {
            await HandOverAsync(first, cancellationToken).ConfigureAwait(false);
            while (storing.Count > 0 || waiting is not null)
            {
                if (waiting is null && TryTakeNext(out PostToRoom next))
                {
                    waiting = await JoinOpenBatchAsync(next, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (waiting is not null && storing.Count < CommitsInFlight)
                {
                    // The next batch forms and goes to the store while the previous one is being written.
                    var post = waiting;
                    waiting = null;
                    await HandOverAsync(post, cancellationToken).ConfigureAwait(false);
                    continue;
                }

                if (waiting is null && MailboxDepth == 0 && !storing.Peek().Stored.IsCompleted
                    && (storing.Count < CommitsInFlight || storing.Last().Batch.IsOpen))
                {
                    // Whichever comes first: the batch being written, or posts to add to the open batch or form the
                    // next one from.
                    var mail = WaitForMailAsync(cancellationToken).AsTask();
                    if (await Task.WhenAny(storing.Peek().Stored, mail).ConfigureAwait(false) == mail && await mail.ConfigureAwait(false))
                    {
                        continue;
                    }
                }

                // Anything but a post (a join, another node's batch, an action) is handled with nothing in flight.
                await PublishOldestAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (storing.Count > 0 || waiting is not null)
        {
            // Never handed to the store: its poster learns the loop failed.
            waiting?.Reply.Fail(ex);

            // A fault, or the loop being stopped, with batches still at the store: each is settled before the loop
            // goes (published if it was stored, failed if not), so none is stored without being shown.
            try
            {
                while (storing.Count > 0)
                {
                    await PublishOldestAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (Exception)
            {
                while (storing.TryDequeue(out var left))
                {
                    left.Fail(ex);
                }
            }

            throw;
        }
    }

    /// <summary>
    /// Forms a batch from <paramref name="first"/> and the posts queued behind it and hands it to the store behind
    /// the batch still being written, if any. The batch stays open until the store starts writing it.
    /// </summary>
    private async ValueTask HandOverAsync(PostToRoom first, CancellationToken cancellationToken)
    {
        var taken = new List<PostToRoom> { first };
        while (taken.Count < MaxBatch && TryTakeNext(out PostToRoom next))
        {
            taken.Add(next);
        }

        var posts = new List<PostToRoom>(taken.Count);
        var records = new List<NewRoomMessage>(taken.Count);
        var now = time.GetUtcNow();
        foreach (var post in taken)
        {
            if (await RecordOfAsync(post, now, cancellationToken).ConfigureAwait(false) is { } record)
            {
                posts.Add(post);
                records.Add(record);
            }
        }

        if (records.Count == 0)
        {
            return;
        }

        var batch = new RoomBatch(records, MaxBatch);
        Task<long> stored;
        try
        {
            stored = await messages.QueueRoomBatchAsync(Room, batch, storing.Count > 0 ? storing.Last().Stored : null, cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            // Never stored; the batch still being written (if any) is not affected, and the next one queues behind it.
            foreach (var post in posts)
            {
                post.Reply.Fail(ex);
            }

            return;
        }
        catch (Exception ex)
        {
            foreach (var post in posts)
            {
                post.Reply.Fail(ex);
            }

            throw;
        }

        storing.Enqueue(new StoringBatch(posts, batch, stored));
    }

    /// <summary>
    /// Adds <paramref name="post"/> and the posts queued behind it to the newest batch at the store while the store
    /// has not started writing it. Returns the first post that found it closed (it starts the next batch), or null
    /// when every post joined or was refused.
    /// </summary>
    private async ValueTask<PostToRoom?> JoinOpenBatchAsync(PostToRoom post, CancellationToken cancellationToken)
    {
        if (storing.Count == 0 || !storing.Last().Batch.IsOpen)
        {
            return post;
        }

        var open = storing.Last();
        var now = time.GetUtcNow();
        while (true)
        {
            if (await RecordOfAsync(post, now, cancellationToken).ConfigureAwait(false) is { } record)
            {
                if (!open.Batch.TryAdd(record))
                {
                    return post;
                }

                open.Posts.Add(post);
            }

            if (!TryTakeNext(out post))
            {
                return null;
            }
        }
    }

    /// <summary>The post as the store keeps it, or null when the room refused it (its poster has been answered).</summary>
    private async ValueTask<NewRoomMessage?> RecordOfAsync(PostToRoom post, DateTimeOffset now, CancellationToken cancellationToken)
    {
        if (!members.ContainsKey(post.User) && !await PostingMemberAsync(post, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        if (access.MutedUntil.Count > 0 && access.MutedAt(post.User, now) is { } until)
        {
            post.Reply.Complete(ChatError.Muted(Room, until));
            return null;
        }

        return new NewRoomMessage(post.User, post.Text, now) { Mentions = MentionedReaders(post.User, post.Text) };
    }

    /// <summary>
    /// Waits for the oldest batch at the store and publishes it, then acknowledges its posts. If the store refused
    /// it, it and every batch queued behind it fail, in order, and nothing of them is published.
    /// </summary>
    private async ValueTask PublishOldestAsync(CancellationToken cancellationToken)
    {
        var batch = storing.Dequeue();
        long firstId;
        try
        {
            firstId = await batch.Stored.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await LeaveStoreThreadAsync().ConfigureAwait(false);

            // Nothing of the batch was published; its posters learn it failed (never acknowledged).
            batch.Fail(ex);
            while (storing.TryDequeue(out var behind))
            {
                // The store refuses what was queued behind a failed batch; wait for that before answering, so a
                // retry cannot overtake it.
                try
                {
                    await behind.Stored.ConfigureAwait(false);
                }
                catch (Exception)
                {
                    // Expected: it failed the same way.
                }

                behind.Fail(ex);
            }

            // An outage is no fault of the loop, and restarting it would not help: it keeps its state and
            // answers the next posts (refused fast while the store is down). Anything else restarts it.
            if (ex is StoreUnavailableException)
            {
                return;
            }

            throw;
        }

        // Closed by the store before it wrote it: what it holds now is what was committed.
        var records = batch.Batch.Close();
        ChatMetrics.MessagesAccepted.Add(records.Count, ChatMetrics.Kind("room"));
        await PublishCommittedAsync(firstId, records, cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < records.Count; i++)
        {
            // After the message itself: every connection of the mentioned user, on whatever node, in whatever room.
            foreach (var user in records[i].Mentions)
            {
                var record = records[i];
                bus.Publish(ChatTopic.User(user), new ChatBusEvent(new MentionNotice(user, Room, record.From, firstId + i, record.Timestamp, MentionNotice.ExcerptOf(record.Text))));
            }
        }

        // One post per record, in the same order: those the room refused never joined.
        for (var i = 0; i < batch.Posts.Count; i++)
        {
            batch.Posts[i].Reply.Complete(Outcome<long>.Ok(firstId + i));
        }

        await LeaveStoreThreadAsync().ConfigureAwait(false);
    }

    // A batch handed to the store: its posts, one for each message the batch holds, in the same order.
    private sealed record StoringBatch(List<PostToRoom> Posts, RoomBatch Batch, Task<long> Stored)
    {
        public void Fail(Exception reason)
        {
            foreach (var post in Posts)
            {
                post.Reply.Fail(reason);
            }
        }
    }

    // Only members may read the room, so only they are notified; nobody is notified of their own words.
    private IReadOnlyList<string> MentionedReaders(string author, string text)
    {
        var named = Mentions.In(text);
        if (named.Count == 0)
        {
            return named;
        }

        List<string>? readers = null;
        foreach (var user in named)
        {
            if (members.ContainsKey(user) && !string.Equals(user, author, StringComparison.Ordinal))
            {
                (readers ??= []).Add(user);
            }
        }

        return readers ?? (IReadOnlyList<string>)[];
    }

    private async ValueTask PublishCommittedAsync(long firstId, IReadOnlyList<NewRoomMessage> committed, CancellationToken cancellationToken)
    {
        if (firstId > lastDelivered + 1)
        {
            // Other nodes committed in between and their batches have not come through yet: they go first.
            await CatchUpAsync(firstId - 1, cancellationToken).ConfigureAwait(false);
        }

        var events = new RoomMessage[committed.Count];
        for (var i = 0; i < events.Length; i++)
        {
            var record = committed[i];
            events[i] = record.Kind is null
                ? new RoomMessage(Room, record.From, record.Text, firstId + i, record.Timestamp)
                : record.ToEvent(Room, firstId + i);
        }

        Publish(new CommittedMessages(Room, events));
    }

    private async ValueTask ReloadAccessAsync(CancellationToken cancellationToken)
    {
        try
        {
            access = await rooms.AccessAsync(Room, cancellationToken).ConfigureAwait(false) ?? RoomAccess.Open;
            accessStale = false;
        }
        catch (StoreUnavailableException)
        {
            // Decide with what is known; the next command tries again.
        }
    }

    private async ValueTask ActAsync(ActInRoom act, CancellationToken cancellationToken)
    {
        NewRoomMessage record;
        try
        {
            var decided = await DecideAsync(act, cancellationToken).ConfigureAwait(false);
            if (decided.Error is { } refused)
            {
                act.Reply.Complete(refused);
                return;
            }

            record = decided.Value!;
        }
        catch (StoreUnavailableException ex)
        {
            act.Reply.Fail(ex);
            return;
        }

        long id;
        try
        {
            id = await messages.AppendRoomMessagesAsync(Room, [record], cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            act.Reply.Fail(ex);
            if (ex is StoreUnavailableException)
            {
                return;
            }

            throw;
        }

        // Announced to everyone still in the room, the user it is about included; then applied here.
        await PublishCommittedAsync(id, [record], cancellationToken).ConfigureAwait(false);
        if (record.Kind == RoomEventKind.Invite && record.Target is { } invited && !members.ContainsKey(invited))
        {
            // The invited user is not a member, so not among the room's recipients: told on their own topic,
            // wherever their connections are, so a client can offer to join.
            bus.Publish(ChatTopic.User(invited), new ChatBusEvent(record.ToEvent(Room, id)));
        }

        if (record.Kind is RoomEventKind.Kick or RoomEventKind.Ban && record.Target is { } removed && members.ContainsKey(removed))
        {
            var endpoint = members[removed];
            Announce([removed], removed, presence.Find(removed) ?? endpoint?.Presence);
            members.Remove(removed);
            Recount(removed);
            recipients = null;
            Publish(new MembershipChanged(Room, [], [removed]));

            // The user's sessions, on whatever node, drop the room from the joined set.
            bus.Publish(ChatTopic.User(removed), new RemovedFromRoom(Room, removed));
        }

        if (RoomEventKind.ChangesAccess(record.Kind))
        {
            await ReloadAccessAsync(cancellationToken).ConfigureAwait(false);
        }

        act.Reply.Complete(Outcome<long>.Ok(id));
    }

    /// <summary>Whether the actor's role allows the action on its target; the event to store if so.</summary>
    private async ValueTask<Outcome<NewRoomMessage>> DecideAsync(ActInRoom act, CancellationToken cancellationToken)
    {
        var actor = act.Actor;
        var action = act.Action;
        var admin = IsAdmin(actor);
        if (!admin && !members.ContainsKey(actor) && !await MemberInStoreAsync(actor, cancellationToken).ConfigureAwait(false))
        {
            return ChatError.NotAMember(Room);
        }

        var role = access.RoleOf(actor, admin);
        var now = time.GetUtcNow();
        var record = new NewRoomMessage(actor, action.Text ?? "", now) { Kind = action.Kind, Target = action.Target, RefersTo = action.RefersTo };
        switch (action.Kind)
        {
            case RoomEventKind.Edit or RoomEventKind.Delete:
                var original = action.RefersTo is { } id ? await messages.FindRoomMessageAsync(Room, id, cancellationToken).ConfigureAwait(false) : null;
                if (original is null || original.Kind is not null || original.Deleted)
                {
                    return ChatError.MessageNotFound(Room, action.RefersTo ?? 0);
                }

                var own = string.Equals(original.From, actor, StringComparison.Ordinal);
                if (action.Kind == RoomEventKind.Edit && !own)
                {
                    return ChatError.Forbidden("only its author may edit a message");
                }

                if (action.Kind == RoomEventKind.Delete && !own && role < RoomRole.Moderator)
                {
                    return ChatError.Forbidden($"only its author or a moderator of {Room} may delete a message");
                }

                return action.Kind == RoomEventKind.Delete ? Ok(record with { Text = "" }) : Ok(record);
            case RoomEventKind.Topic:
                return role >= RoomRole.Moderator ? Ok(record) : ChatError.Forbidden($"only moderators of {Room} may set its topic");
        }

        if (role < RoomRole.Moderator)
        {
            return ChatError.Forbidden($"only moderators of {Room} may {action.Kind}");
        }

        var target = action.Target!;
        var targetIsMember = members.ContainsKey(target) || await MemberInStoreAsync(target, cancellationToken).ConfigureAwait(false);
        var targetRole = access.RoleOf(target, IsAdmin(target));
        switch (action.Kind)
        {
            case RoomEventKind.Invite:
                return targetIsMember ? ChatError.InvalidTarget($"{target} is already a member of {Room}")
                    : access.Banned.Contains(target) ? ChatError.InvalidTarget($"{target} is banned from {Room}: unban first")
                    : Ok(record);
            case RoomEventKind.Unban:
                return access.Banned.Contains(target) ? Ok(record) : ChatError.InvalidTarget($"{target} is not banned from {Room}");
            case RoomEventKind.Unmute:
                return access.MutedAt(target, now) is not null ? Ok(record) : ChatError.InvalidTarget($"{target} is not muted in {Room}");
            case RoomEventKind.Role:
                if (role < RoomRole.Owner)
                {
                    return ChatError.Forbidden($"only the owner of {Room} may change roles");
                }

                return !targetIsMember ? ChatError.InvalidTarget($"{target} is not a member of {Room}")
                    : targetRole >= RoomRole.Owner ? ChatError.InvalidTarget($"the role of {target} cannot be changed")
                    : Ok(record);
        }

        // Kick, ban, mute: only someone below the actor.
        if (targetRole >= role)
        {
            return ChatError.Forbidden($"{target} is {Describe(targetRole)} of {Room}: you cannot {action.Kind} them");
        }

        return action.Kind switch
        {
            RoomEventKind.Kick => targetIsMember ? Ok(record) : ChatError.InvalidTarget($"{target} is not a member of {Room}"),
            RoomEventKind.Ban => access.Banned.Contains(target) ? ChatError.InvalidTarget($"{target} is already banned from {Room}") : Ok(record),
            RoomEventKind.Mute => targetIsMember ? Ok(record with { Until = now + (action.Duration ?? TimeSpan.FromMinutes(10)) }) : ChatError.InvalidTarget($"{target} is not a member of {Room}"),
            _ => ChatError.Forbidden($"{action.Kind} is not a room action"),
        };
    }

    private static Outcome<NewRoomMessage> Ok(NewRoomMessage record) => Outcome<NewRoomMessage>.Ok(record);

    private static string Describe(RoomRole role) => role switch
    {
        RoomRole.Admin => "a server admin",
        RoomRole.Owner => "the owner",
        RoomRole.Moderator => "a moderator",
        _ => "a member",
    };

    /// <inheritdoc />
    protected override void Terminated(Exception? reason)
    {
        StopPresenceTimer();
        Interlocked.Exchange(ref subscription, null)?.Dispose();
        EndedWithListeners = retiring && !deleted && Recipients().Length > 0;
        terminated?.Invoke(this);
        ended.TrySetResult();
    }
}
