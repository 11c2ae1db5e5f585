using TinyChat.Runtime;

namespace TinyChat.Chat;

/// <summary>Where events for one online user go: the outboxes of all that user's open connections.</summary>
/// <remarks>
/// Only the user's <see cref="UserSessionProcess"/> changes the set (copy-on-write; a user has a handful of
/// connections); rooms and the bus read a snapshot without locking and never wait. Each change is written to
/// this node's row of the presence table, when there is one. Each connection has a <see cref="ConnectionPresence"/>
/// (an id and when it opened) for the protocols that show a user's connections one by one.
/// </remarks>
public sealed class UserEndpoint(string user, DateTimeOffset onlineAt, IPresence? presence = null) : IChatBusSubscriber
{
    private Attached[] attached = [];

    // The connections that were open when the count last dropped to zero: what a leave of this user names.
    private ConnectionPresence[] departed = [];
    private long onlineAtTicks = onlineAt.UtcTicks;

    /// <summary>The user's name.</summary>
    public string User { get; } = user;

    /// <summary>When the user came online: the first connection of this session, or of its latest return from zero.</summary>
    public DateTimeOffset OnlineAt => new(Volatile.Read(ref onlineAtTicks), TimeSpan.Zero);

    /// <summary>
    /// The user as one entry of a room's presence, as seen from this node, with its connections named; when no
    /// connection is open, the ones that closed last (so a leave can name them).
    /// </summary>
    public PresenceEntry Presence
    {
        get
        {
            var current = Volatile.Read(ref attached);
            return new(User, OnlineAt, current.Length) { Named = current.Length > 0 ? [.. current.Select(a => a.Presence)] : Volatile.Read(ref departed) };
        }
    }

    /// <summary>Open connections of the user.</summary>
    public int Connections => Volatile.Read(ref attached).Length;

    /// <summary>Queues the event on every connection of the user; returns on how many. Never blocks.</summary>
    public int Deliver(ChatEvent chatEvent)
    {
        var all = Volatile.Read(ref attached);
        foreach (var connection in all)
        {
            connection.Outbox.TryDeliver(chatEvent);
        }

        return all.Length;
    }

    /// <summary>Queues a room's batch on every connection of the user (see <see cref="IOutbox.TryDeliverBatch"/>); returns the deliveries. Never blocks.</summary>
    public int DeliverBatch(IReadOnlyList<ChatEvent> batch)
    {
        var all = Volatile.Read(ref attached);
        foreach (var connection in all)
        {
            connection.Outbox.TryDeliverBatch(batch);
        }

        return all.Length * batch.Count;
    }

    /// <summary>Ends every connection of the user with <paramref name="reason"/> (see <see cref="IOutbox.Disconnect"/>). Never blocks.</summary>
    public void Disconnect(string reason)
    {
        foreach (var connection in Volatile.Read(ref attached))
        {
            connection.Outbox.Disconnect(reason);
            ChatMetrics.Disconnects.Add(1, ChatMetrics.Reason("revoked"));
        }
    }

    /// <inheritdoc />
    void IChatBusSubscriber.Receive(ChatTopic topic, ChatBusMessage message)
    {
        if (message is ChatBusEvent single && Deliver(single.Event) is var delivered and > 0 && single.Event is PrivateMessage)
        {
            ChatMetrics.Deliveries.Add(delivered);
        }
        else if (message is RemovedFromRoom removed)
        {
            Removed?.Invoke(removed.Room);
        }
    }

    /// <summary>Told when a moderator removed the user from a room (set by the user's session). Must not block.</summary>
    internal Action<string>? Removed { get; set; }

    /// <summary>Adds a connection opened at <paramref name="at"/> (now when omitted: tests); a first connection sets <see cref="OnlineAt"/>.</summary>
    internal ConnectionPresence Attach(IOutbox outbox, DateTimeOffset? at = null)
    {
        var opened = ConnectionPresence.Open(at ?? OnlineAt);
        if (attached.Length == 0 && at is { } now)
        {
            Volatile.Write(ref onlineAtTicks, now.UtcTicks);
        }

        Attached[] next = [.. attached, new Attached(outbox, opened)];
        Volatile.Write(ref attached, next);
        presence?.Track(User, OnlineAt, next.Length);
        return opened;
    }

    /// <summary>Removes a connection; false (and no <paramref name="closed"/>) when it was not attached.</summary>
    internal bool Detach(IOutbox outbox, out ConnectionPresence? closed)
    {
        var current = attached;
        var index = Array.FindIndex(current, a => ReferenceEquals(a.Outbox, outbox));
        if (index < 0)
        {
            closed = null;
            return false;
        }

        closed = current[index].Presence;
        Attached[] next = [.. current[..index], .. current[(index + 1)..]];
        if (next.Length == 0)
        {
            Volatile.Write(ref departed, [closed]);
        }

        Volatile.Write(ref attached, next);
        presence?.Track(User, OnlineAt, next.Length);
        return true;
    }

    /// <summary>Removes a connection.</summary>
    internal bool Detach(IOutbox outbox) => Detach(outbox, out _);

    private sealed record Attached(IOutbox Outbox, ConnectionPresence Presence);
}
