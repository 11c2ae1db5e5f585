namespace TinyChat.Chat;

/// <summary>Turns chat events into one protocol's wire bytes.</summary>
public interface IEventEncoder
{
    /// <summary>This encoder's slot in each event's cache (from <see cref="ChatEvent.ReserveEncoderSlot"/>).</summary>
    int Slot { get; }

    /// <summary>Encodes an event. Must be pure: its result is shared by every recipient.</summary>
    ReadOnlyMemory<byte> Encode(ChatEvent chatEvent);
}

/// <summary>
/// Something pushed to connections. Immutable; encoded at most once per protocol, and the bytes are shared
/// by every recipient of that protocol, so fan-out never serializes per recipient.
/// </summary>
public abstract class ChatEvent
{
    private const int MaxEncoders = 4;
    private static int nextSlot = -1;
    private ReadOnlyMemory<byte>[]? encodings;

    /// <summary>Reserves a cache slot for one protocol encoder; call once per encoder type.</summary>
    public static int ReserveEncoderSlot()
    {
        var slot = Interlocked.Increment(ref nextSlot);
        return slot < MaxEncoders ? slot : throw new InvalidOperationException("too many protocol encoders");
    }

    /// <summary>The event's bytes in <paramref name="encoder"/>'s protocol, encoded on first use. Thread-safe.</summary>
    public virtual ReadOnlyMemory<byte> EncodeWith(IEventEncoder encoder)
    {
        var cache = Volatile.Read(ref encodings) ?? Interlocked.CompareExchange(ref encodings, new ReadOnlyMemory<byte>[MaxEncoders], null) ?? encodings;
        var cached = cache[encoder.Slot];
        if (!cached.IsEmpty)
        {
            return cached;
        }

        // A race encodes twice at worst; both results are equal, so either may win.
        var bytes = encoder.Encode(this);
        cache[encoder.Slot] = bytes;
        return bytes;
    }
}

/// <summary>A message posted in a room, as every member sees it.</summary>
public sealed class RoomMessage(string room, string from, string text, long id, DateTimeOffset timestamp) : ChatEvent
{
    /// <summary>Room name.</summary>
    public string Room { get; } = room;

    /// <summary>Sender's user name.</summary>
    public string From { get; } = from;

    /// <summary>The text.</summary>
    public string Text { get; } = text;

    /// <summary>Per-room sequence number.</summary>
    public long Id { get; } = id;

    /// <summary>Server UTC time of acceptance.</summary>
    public DateTimeOffset Timestamp { get; } = timestamp;
}

/// <summary>A private message, as sender and recipient see it.</summary>
public sealed class PrivateMessage(string from, string to, string text, long id, DateTimeOffset timestamp) : ChatEvent
{
    /// <summary>Sender's user name.</summary>
    public string From { get; } = from;

    /// <summary>Recipient's user name.</summary>
    public string To { get; } = to;

    /// <summary>The text.</summary>
    public string Text { get; } = text;

    /// <summary>Server-wide private message sequence number.</summary>
    public long Id { get; } = id;

    /// <summary>Server UTC time of acceptance.</summary>
    public DateTimeOffset Timestamp { get; } = timestamp;
}

/// <summary>A system line shown in one room to one user (the welcome on join).</summary>
public sealed class RoomNotice(string room, string text) : ChatEvent
{
    /// <summary>Room name.</summary>
    public string Room { get; } = room;

    /// <summary>The text.</summary>
    public string Text { get; } = text;
}

/// <summary>One online user in a room's presence: since when, and over how many connections.</summary>
public sealed record PresenceEntry(string User, DateTimeOffset OnlineAt, int Connections);

/// <summary>Everyone online in a room now (sent on join, on reconnect, on <c>who</c>, and after a room restart).</summary>
public sealed class PresenceState(string room, IReadOnlyList<PresenceEntry> online) : ChatEvent
{
    /// <summary>Room name.</summary>
    public string Room { get; } = room;

    /// <summary>Online members, sorted by name.</summary>
    public IReadOnlyList<PresenceEntry> Online { get; } = online;
}

/// <summary>A change of a room's presence: users who came online (or joined) and users who went offline (or left).</summary>
public sealed class PresenceDiff(string room, IReadOnlyList<PresenceEntry> joins, IReadOnlyList<PresenceEntry> leaves) : ChatEvent
{
    /// <summary>Room name.</summary>
    public string Room { get; } = room;

    /// <summary>Users now present.</summary>
    public IReadOnlyList<PresenceEntry> Joins { get; } = joins;

    /// <summary>Users no longer present.</summary>
    public IReadOnlyList<PresenceEntry> Leaves { get; } = leaves;
}

/// <summary>A user is typing in a room (<see cref="Room"/>) or to one user (<see cref="To"/>). Ephemeral.</summary>
public sealed class TypingNotice(string user, string? room, string? to) : ChatEvent
{
    /// <summary>Who is typing.</summary>
    public string User { get; } = user;

    /// <summary>The room, for room typing.</summary>
    public string? Room { get; } = room;

    /// <summary>The recipient, for private typing.</summary>
    public string? To { get; } = to;
}
