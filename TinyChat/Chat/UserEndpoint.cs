using TinyChat.Runtime;

namespace TinyChat.Chat;

/// <summary>Where events for one online user go: the outboxes of all that user's open connections.</summary>
/// <remarks>
/// Only the user's <see cref="UserSessionProcess"/> changes the set (copy-on-write; a user has a handful of
/// connections); rooms and the bus read a snapshot without locking and never wait. Each change is written to
/// this node's row of the presence table, when there is one.
/// </remarks>
public sealed class UserEndpoint(string user, DateTimeOffset onlineAt, IPresence? presence = null) : IChatBusSubscriber
{
    private IOutbox[] outboxes = [];

    /// <summary>The user's name.</summary>
    public string User { get; } = user;

    /// <summary>When the user came online (this session started).</summary>
    public DateTimeOffset OnlineAt { get; } = onlineAt;

    /// <summary>The user as one entry of a room's presence, as seen from this node.</summary>
    public PresenceEntry Presence => new(User, OnlineAt, Connections);

    /// <summary>Open connections of the user.</summary>
    public int Connections => Volatile.Read(ref outboxes).Length;

    /// <summary>Queues the event on every connection of the user; returns on how many. Never blocks.</summary>
    public int Deliver(ChatEvent chatEvent)
    {
        var all = Volatile.Read(ref outboxes);
        foreach (var outbox in all)
        {
            outbox.TryDeliver(chatEvent);
        }

        return all.Length;
    }

    /// <summary>Ends every connection of the user with <paramref name="reason"/> (see <see cref="IOutbox.Disconnect"/>). Never blocks.</summary>
    public void Disconnect(string reason)
    {
        foreach (var outbox in Volatile.Read(ref outboxes))
        {
            outbox.Disconnect(reason);
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

    internal void Attach(IOutbox outbox)
    {
        IOutbox[] next = [.. outboxes, outbox];
        Volatile.Write(ref outboxes, next);
        presence?.Track(User, OnlineAt, next.Length);
    }

    internal bool Detach(IOutbox outbox)
    {
        var current = outboxes;
        var index = Array.IndexOf(current, outbox);
        if (index < 0)
        {
            return false;
        }

        IOutbox[] next = [.. current[..index], .. current[(index + 1)..]];
        Volatile.Write(ref outboxes, next);
        presence?.Track(User, OnlineAt, next.Length);
        return true;
    }
}
