namespace TinyChat.Chat;

/// <summary>Where events for one online user go: the outboxes of all that user's open connections.</summary>
/// <remarks>
/// Only the user's <see cref="UserSessionProcess"/> changes the set (copy-on-write; a user has a handful of
/// connections); rooms and private-message senders read a snapshot without locking and never wait.
/// </remarks>
public sealed class UserEndpoint(string user, DateTimeOffset? onlineAt = null)
{
    private IOutbox[] outboxes = [];

    /// <summary>The user's name.</summary>
    public string User { get; } = user;

    /// <summary>When the user came online (this session started).</summary>
    public DateTimeOffset OnlineAt { get; } = onlineAt ?? DateTimeOffset.UtcNow;

    /// <summary>The user as one entry of a room's presence.</summary>
    public PresenceEntry Presence => new(User, OnlineAt, Connections);

    /// <summary>Open connections of the user.</summary>
    public int Connections => Volatile.Read(ref outboxes).Length;

    /// <summary>Queues the event on every connection of the user. Never blocks.</summary>
    public void Deliver(ChatEvent chatEvent)
    {
        foreach (var outbox in Volatile.Read(ref outboxes))
        {
            outbox.TryDeliver(chatEvent);
        }
    }

    internal void Attach(IOutbox outbox) => Volatile.Write(ref outboxes, [.. outboxes, outbox]);

    internal bool Detach(IOutbox outbox)
    {
        var current = outboxes;
        var index = Array.IndexOf(current, outbox);
        if (index < 0)
        {
            return false;
        }

        Volatile.Write(ref outboxes, [.. current[..index], .. current[(index + 1)..]]);
        return true;
    }
}
