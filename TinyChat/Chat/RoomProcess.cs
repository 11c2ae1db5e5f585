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

/// <summary>A member's user came online: deliver to this endpoint.</summary>
public sealed record MemberOnline(string User, UserEndpoint Endpoint) : RoomCommand;

/// <summary>A member's user went offline (only if <paramref name="Endpoint"/> is still the one the room knows).</summary>
public sealed record MemberOffline(string User, UserEndpoint Endpoint) : RoomCommand;

/// <summary>
/// One chat room: owns its member set, its sequence counter and the order of its messages.
/// Every message is durable before any member sees it; posts that queue up while one batch is being
/// written are written and broadcast as the next batch (group commit).
/// </summary>
/// <remarks>
/// Loop state (members, last id) is rebuilt in <see cref="StartAsync"/> from the store (membership, last id)
/// and from the live sessions (who is online), so a restart loses nothing that was acknowledged.
/// The room never awaits a session or a socket: delivery is <see cref="UserEndpoint.Deliver"/>, which never blocks.
/// </remarks>
public sealed class RoomProcess(
    string room,
    int mailboxCapacity,
    IRoomStore rooms,
    IMessageStore messages,
    Func<string, UserEndpoint?> findOnline,
    TimeProvider time,
    Action<RoomProcess>? terminated = null)
    : Process<RoomCommand>("room:" + room, mailboxCapacity)
{
    private const int MaxBatch = 512;
    private readonly Dictionary<string, UserEndpoint?> members = new(StringComparer.Ordinal);
    private readonly List<PostToRoom> batch = [];
    private readonly List<RoomMessageRecord> records = [];
    private UserEndpoint[]? recipients;
    private long lastId;

    /// <summary>The room's name.</summary>
    public string Room { get; } = room;

    /// <inheritdoc />
    protected override async ValueTask StartAsync(CancellationToken cancellationToken)
    {
        members.Clear();
        foreach (var user in await rooms.MembersAsync(Room, cancellationToken).ConfigureAwait(false))
        {
            members[user] = findOnline(user);
        }

        recipients = null;
        lastId = await messages.LastRoomIdAsync(Room, cancellationToken).ConfigureAwait(false);
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
                if (members.ContainsKey(join.User))
                {
                    join.Reply.Complete(ChatError.AlreadyJoined(Room));
                    break;
                }

                await rooms.AddMemberAsync(Room, join.User, cancellationToken).ConfigureAwait(false);
                SetMember(join.User, join.Endpoint);
                join.Reply.Complete(null);
                break;
            case LeaveRoom leave:
                if (!members.ContainsKey(leave.User))
                {
                    leave.Reply.Complete(ChatError.NotAMember(Room));
                    break;
                }

                await rooms.RemoveMemberAsync(Room, leave.User, cancellationToken).ConfigureAwait(false);
                members.Remove(leave.User);
                recipients = null;
                leave.Reply.Complete(null);
                break;
            case MemberOnline online:
                if (members.ContainsKey(online.User))
                {
                    SetMember(online.User, online.Endpoint);
                }

                break;
            case MemberOffline offline:
                if (members.TryGetValue(offline.User, out var known) && ReferenceEquals(known, offline.Endpoint))
                {
                    SetMember(offline.User, null);
                }

                break;
            default:
                throw new InvalidOperationException($"room {Room} cannot handle {message.GetType().Name}");
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

            records.Add(new RoomMessageRecord(Room, ++lastId, post.User, post.Text, now));
        }

        if (records.Count == 0)
        {
            return;
        }

        try
        {
            await messages.AppendRoomMessagesAsync(records, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // Nothing of the batch was broadcast; its posters learn it failed. The restart reloads lastId.
            foreach (var post in batch)
            {
                post.Reply.Fail(ex);
            }

            throw;
        }

        var targets = Recipients();
        var index = 0;
        foreach (var post in batch)
        {
            if (post.Reply.Task.IsCompleted)
            {
                continue;
            }

            var record = records[index++];
            var chatEvent = new RoomMessage(Room, record.From, record.Text, record.Id, record.Timestamp);
            foreach (var endpoint in targets)
            {
                endpoint.Deliver(chatEvent);
            }

            post.Reply.Complete(Outcome<long>.Ok(record.Id));
        }
    }

    /// <inheritdoc />
    protected override void Terminated(Exception? reason) => terminated?.Invoke(this);
}
