using TinyChat.Runtime;

namespace TinyChat.Chat;

/// <summary>A message in a room's mailbox.</summary>
public abstract record RoomCommand;

/// <summary>A room message that expects a reply.</summary>
public abstract record RoomRequest<T> : RoomCommand, IRequest
{
    /// <summary>Where the room answers.</summary>
    public Reply<T> Reply { get; } = new();

    /// <inheritdoc />
    public void Fail(Exception reason) => Reply.Fail(reason);
}

/// <summary>A user joins the room; the reply is null on success.</summary>
public sealed record JoinRoom(string User, UserEndpoint Endpoint) : RoomRequest<ChatError?>;

/// <summary>A user leaves the room; the reply is null on success.</summary>
public sealed record LeaveRoom(string User) : RoomRequest<ChatError?>;

/// <summary>A member posts a text; the reply is its sequence number, given once it is durable and broadcast.</summary>
public sealed record PostToRoom(string User, string Text) : RoomRequest<Outcome<long>>;

/// <summary>Who is online in the room; only members may ask.</summary>
public sealed record WhoIsHere(string User) : RoomRequest<Outcome<PresenceState>>;

/// <summary>A member is typing: tell the other online members (at most once per second per member).</summary>
public sealed record TypingInRoom(string User) : RoomCommand;

/// <summary>A member's user came online: deliver to this endpoint.</summary>
public sealed record MemberOnline(string User, UserEndpoint Endpoint) : RoomCommand;

/// <summary>A member's user went offline (only if <paramref name="Endpoint"/> is still the one the room knows).</summary>
public sealed record MemberOffline(string User, UserEndpoint Endpoint) : RoomCommand;

/// <summary>Something published on the room's topic by someone other than this loop (another node's room): deliver it to the members here.</summary>
public sealed record FromBus(ChatBusMessage Message) : RoomCommand;

/// <summary>
/// One chat room on this node: owns its member set, the order in which its posts reach the store and the
/// delivery of the room's events to its members here. Every message is durable before any member sees it;
/// posts that queue up while one batch is being written are written and published as the next batch (group commit).
/// </summary>
/// <remarks>
/// The store numbers each batch in the transaction that inserts it; the room publishes the committed batch on
/// the room's topic of the <see cref="IChatBus"/> and, as the topic's subscriber on this node, delivers it to
/// its online members. Its own batches come back synchronously, inside the publish call (the bus contract), so
/// they are delivered by this loop at once; anything else published on the topic (another node's room, in a
/// cluster) enters through the mailbox as <see cref="FromBus"/>, so one loop delivers everything in order.
/// Loop state (members) is rebuilt in <see cref="StartAsync"/> from the store and from the live sessions (who
/// is online), so a restart loses nothing that was acknowledged. The room never awaits a session or a socket:
/// delivery is <see cref="UserEndpoint.Deliver"/>, which never blocks.
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
    private static readonly TimeSpan TypingInterval = TimeSpan.FromSeconds(1);
    private readonly Dictionary<string, long> lastTyping = new(StringComparer.Ordinal);
    private readonly Dictionary<string, UserEndpoint?> members = new(StringComparer.Ordinal);
    private readonly List<PostToRoom> batch = [];
    private readonly List<JoinRoom> joins = [];
    private readonly List<NewRoomMessage> records = [];
    private readonly ChatTopic topic = ChatTopic.Room(room);
    private UserEndpoint[]? recipients;
    private IDisposable? subscription;
    private ChatBusMessage? publishing;
    private int starts;

    /// <summary>The room's name.</summary>
    public string Room { get; } = room;

    /// <inheritdoc />
    protected override async ValueTask StartAsync(CancellationToken cancellationToken)
    {
        members.Clear();
        foreach (var user in await StoreUnavailableException.WaitOutAsync(ct => rooms.MembersAsync(Room, ct), time, cancellationToken).ConfigureAwait(false))
        {
            members[user] = findOnline(user);
        }

        recipients = null;
        lastTyping.Clear();
        publishing = null;
        subscription ??= bus.Subscribe(topic, this);
        if (++starts > 1)
        {
            // Presence changes that died with the previous loop were never announced: resynchronise everyone.
            Broadcast(CurrentPresence());
        }
    }

    /// <inheritdoc />
    protected override async ValueTask HandleAsync(RoomCommand message, CancellationToken cancellationToken)
    {
        switch (message)
        {
            case PostToRoom post:
                await PostBatchAsync(post, cancellationToken).ConfigureAwait(false);
                break;
            case JoinRoom join:
                await JoinBatchAsync(join, cancellationToken).ConfigureAwait(false);
                break;
            case LeaveRoom leave:
                if (!members.ContainsKey(leave.User))
                {
                    leave.Reply.Complete(ChatError.NotAMember(Room));
                    break;
                }

                try
                {
                    await rooms.RemoveMemberAsync(Room, leave.User, cancellationToken).ConfigureAwait(false);
                }
                catch (StoreUnavailableException ex)
                {
                    // Nothing changed; the loop's state is still the store's, so it carries on.
                    leave.Reply.Fail(ex);
                    break;
                }

                if (members[leave.User] is { } leaving)
                {
                    // The leaver hears it too, so the user's other tabs drop the room's presence.
                    Broadcast(new PresenceDiff(Room, [], [leaving.Presence]));
                }

                members.Remove(leave.User);
                recipients = null;
                leave.Reply.Complete(null);
                break;
            case MemberOnline online:
                if (members.TryGetValue(online.User, out var before) && !ReferenceEquals(before, online.Endpoint))
                {
                    SetMember(online.User, online.Endpoint);
                    Broadcast(new PresenceDiff(Room, [online.Endpoint.Presence], before is null ? [] : [before.Presence]));
                }

                break;
            case MemberOffline offline:
                if (members.TryGetValue(offline.User, out var known) && ReferenceEquals(known, offline.Endpoint))
                {
                    SetMember(offline.User, null);
                    Broadcast(new PresenceDiff(Room, [], [offline.Endpoint.Presence]));
                }

                break;
            case WhoIsHere who:
                who.Reply.Complete(members.ContainsKey(who.User) ? Outcome<PresenceState>.Ok(CurrentPresence()) : ChatError.NotAMember(Room));
                break;
            case TypingInRoom typing:
                Typing(typing.User);
                break;
            case FromBus delivery:
                DeliverHere(delivery.Message);
                break;
            default:
                throw new InvalidOperationException($"room {Room} cannot handle {message.GetType().Name}");
        }
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
            else
            {
                accepted.Add(join);
            }
        }

        if (accepted.Count == 0)
        {
            return;
        }

        try
        {
            await Task.WhenAll(accepted.Select(j => rooms.AddMemberAsync(Room, j.User, cancellationToken).AsTask())).ConfigureAwait(false);
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

        foreach (var join in accepted)
        {
            SetMember(join.User, join.Endpoint);
        }

        Broadcast(new PresenceDiff(Room, [.. accepted.Select(j => j.Endpoint.Presence)], []));
        foreach (var join in accepted)
        {
            join.Reply.Complete(null);
        }
    }

    private PresenceState CurrentPresence()
    {
        // Members connected here count with their presence over all nodes; members the room knows no local
        // endpoint for count when another node has them online.
        var online = new List<PresenceEntry>();
        foreach (var (user, endpoint) in members)
        {
            if (endpoint is { Connections: > 0 })
            {
                online.Add(presence.Find(user) ?? endpoint.Presence);
            }
            else if (endpoint is null && OnOtherNodes(user) is { } elsewhere)
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

    private void DeliverHere(ChatBusMessage message)
    {
        var targets = Recipients();
        switch (message)
        {
            case CommittedMessages batch:
                // Member by member, the whole batch at once: a connection's writer, woken by the first message,
                // finds the rest already queued and sends them in one write, instead of racing the loop message by
                // message (measured: 1.5-2x the TCP segments per delivery with the loops the other way round).
                foreach (var endpoint in targets)
                {
                    foreach (var chatEvent in batch.Messages)
                    {
                        endpoint.Deliver(chatEvent);
                    }
                }

                break;
            case ChatBusEvent { Event: TypingNotice notice }:
                // Everyone but the typist, on whichever node the typist is.
                foreach (var endpoint in targets)
                {
                    if (!string.Equals(endpoint.User, notice.User, StringComparison.Ordinal))
                    {
                        endpoint.Deliver(notice);
                    }
                }

                break;
            case ChatBusEvent single:
                foreach (var endpoint in targets)
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
        batch.Clear();
        records.Clear();
        batch.Add(first);
        while (batch.Count < MaxBatch && TryTakeNext(out PostToRoom next))
        {
            batch.Add(next);
        }

        var now = time.GetUtcNow();
        foreach (var post in batch)
        {
            if (!members.ContainsKey(post.User))
            {
                post.Reply.Complete(ChatError.NotAMember(Room));
                continue;
            }

            records.Add(new NewRoomMessage(post.User, post.Text, now));
        }

        if (records.Count == 0)
        {
            return;
        }

        long firstId;
        try
        {
            firstId = await messages.AppendRoomMessagesAsync(Room, records, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Nothing of the batch was published; its posters learn it failed (never acknowledged).
            foreach (var post in batch)
            {
                post.Reply.Fail(ex);
            }

            // An outage is no fault of the loop, and restarting it would not help: it keeps its state and
            // answers the next posts (refused fast while the store is down). Anything else restarts it.
            if (ex is StoreUnavailableException)
            {
                return;
            }

            throw;
        }

        var events = new RoomMessage[records.Count];
        for (var i = 0; i < events.Length; i++)
        {
            var record = records[i];
            events[i] = new RoomMessage(Room, record.From, record.Text, firstId + i, record.Timestamp);
        }

        Publish(new CommittedMessages(Room, events));
        var index = 0;
        foreach (var post in batch)
        {
            if (!post.Reply.Task.IsCompleted)
            {
                post.Reply.Complete(Outcome<long>.Ok(firstId + index++));
            }
        }
    }

    /// <inheritdoc />
    protected override void Terminated(Exception? reason)
    {
        Interlocked.Exchange(ref subscription, null)?.Dispose();
        terminated?.Invoke(this);
    }
}
