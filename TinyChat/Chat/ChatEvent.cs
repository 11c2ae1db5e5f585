namespace TinyChat.Chat;

/// <summary>Turns chat events into one protocol variant's wire bytes; the instance is the key of each event's cache.</summary>
public interface IEventEncoder
{
    /// <summary>Encodes an event. Must be pure: its result is shared by every recipient.</summary>
    ReadOnlyMemory<byte> Encode(ChatEvent chatEvent);
}

/// <summary>
/// Something pushed to connections. Immutable; encoded at most once per encoder, and the bytes are shared
/// by every recipient that uses that encoder, so fan-out never serializes per recipient.
/// </summary>
public abstract class ChatEvent
{
    private EncodingCache<IEventEncoder, ReadOnlyMemory<byte>> encodings;

    /// <summary>The event's bytes in <paramref name="encoder"/>'s protocol, encoded on first use. Thread-safe.</summary>
    public ReadOnlyMemory<byte> EncodeWith(IEventEncoder encoder) =>
        encodings.GetOrEncode(encoder, this, static (encoder, chatEvent) => encoder.Encode(chatEvent));
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

    /// <summary>Null for a chat message; otherwise the room event this is (<see cref="RoomEventKind"/>), sent by <see cref="From"/>.</summary>
    public string? Kind { get; init; }

    /// <summary>The user a moderation event is about (kick, ban, mute, invite, role).</summary>
    public string? Target { get; init; }

    /// <summary>The message an edit or delete event refers to.</summary>
    public long? RefersTo { get; init; }

    /// <summary>When a mute ends.</summary>
    public DateTimeOffset? Until { get; init; }

    /// <summary>When the message was last edited (history only: a live message is never edited yet).</summary>
    public DateTimeOffset? EditedAt { get; init; }

    /// <summary>Whether the message was deleted: <see cref="Text"/> is empty and only its place remains.</summary>
    public bool Deleted { get; init; }
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

/// <summary>One online user in a room's presence: since when, and over how many connections.</summary>
public sealed record PresenceEntry(string User, DateTimeOffset OnlineAt, int Connections)
{
    /// <summary>
    /// The user's connections this node knows by name: its own open ones (fewer than <see cref="Connections"/> when
    /// the user is also connected to other nodes), or, in a leave of a user who went offline, the ones that closed.
    /// Protocols that show each connection (Phoenix metas) name them; the others count.
    /// </summary>
    public IReadOnlyList<ConnectionPresence> Named { get; init; } = [];
}

/// <summary>One open connection of an online user, as presence names it: an id unique among all connections, and when it opened.</summary>
public sealed record ConnectionPresence(string Id, DateTimeOffset OpenedAt)
{
    // Unique across restarts and nodes without coordination: a random prefix per process, a counter within it.
    private static readonly string Prefix = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(4)) + ".";
    private static long next;

    /// <summary>A connection opening now, with a fresh id.</summary>
    public static ConnectionPresence Open(DateTimeOffset at) =>
        new(Prefix + Interlocked.Increment(ref next).ToString(System.Globalization.CultureInfo.InvariantCulture), at);
}

/// <summary>
/// Who is online in a room now (sent on join, on reconnect, on <c>who</c>, and after a room restart): everyone, by
/// name; or, in a room with more online than <see cref="ChatLimits.FullPresenceMaxMembers"/>, only how many
/// (<see cref="Counted"/>); or one page of the names, on request (<see cref="Paged"/>).
/// </summary>
public sealed class PresenceState(string room, IReadOnlyList<PresenceEntry> online) : ChatEvent
{
    /// <summary>Room name.</summary>
    public string Room { get; } = room;

    /// <summary>Online members, sorted by name: all of them, none when <see cref="Counted"/>, a page when <see cref="Paged"/>.</summary>
    public IReadOnlyList<PresenceEntry> Online { get; } = online;

    /// <summary>How many members are online in all.</summary>
    public int Total { get; init; } = online.Count;

    /// <summary>The room is too big to list: the state is <see cref="Total"/> alone, and its changes come as <see cref="PresenceCount"/>.</summary>
    public bool Counted { get; init; }

    /// <summary>A page asked for by <c>who</c>: <see cref="Online"/> holds the names after the cursor the request gave.</summary>
    public bool Paged { get; init; }

    /// <summary>When <see cref="Paged"/> and more names follow: the cursor of the next page (the last name of this one).</summary>
    public string? Next { get; init; }
}

/// <summary>
/// How many members are online in a room too big to list (more than <see cref="ChatLimits.FullPresenceMaxMembers"/>):
/// sent instead of <see cref="PresenceDiff"/>s, at most once per presence tick, when the count changed.
/// </summary>
public sealed class PresenceCount(string room, int online) : ChatEvent
{
    /// <summary>Room name.</summary>
    public string Room { get; } = room;

    /// <summary>Members online now.</summary>
    public int Online { get; } = online;
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

    /// <summary>
    /// Nobody came or went: the room crossed <see cref="ChatLimits.FullPresenceMaxMembers"/> and its list is hidden
    /// (everyone in <see cref="Leaves"/>, before a <see cref="PresenceCount"/>) or shown again (everyone in
    /// <see cref="Joins"/>). Protocols with a list of their own (Phoenix Presence) apply it; the others say it their way.
    /// </summary>
    public bool Relisting { get; init; }
}

/// <summary>
/// A connection of a user who stays online in the room opened or closed (a second tab, one of two tabs closing): the
/// user's presence did not change, only how many connections carry it. Protocols that show one entry per connection
/// (Phoenix Presence metas) announce it; the ones that show a user once (native JSON, SSE, IRC) encode it to nothing.
/// </summary>
public sealed class PresenceConnectionDiff(string room, string user, IReadOnlyList<ConnectionPresence> opened, IReadOnlyList<ConnectionPresence> closed) : ChatEvent
{
    /// <summary>Room name.</summary>
    public string Room { get; } = room;

    /// <summary>The user whose connections changed.</summary>
    public string User { get; } = user;

    /// <summary>Connections that opened.</summary>
    public IReadOnlyList<ConnectionPresence> Opened { get; } = opened;

    /// <summary>Connections that closed.</summary>
    public IReadOnlyList<ConnectionPresence> Closed { get; } = closed;
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

/// <summary>
/// <see cref="User"/> was mentioned (<c>@user</c>) in a room message: sent to every connection of that user,
/// whichever room they are looking at. Carries the start of the text, not all of it (the message is in the room).
/// </summary>
public sealed class MentionNotice(string user, string room, string from, long id, DateTimeOffset timestamp, string excerpt) : ChatEvent
{
    /// <summary>Longest excerpt, in characters.</summary>
    public const int ExcerptLength = 200;

    /// <summary>Who was mentioned.</summary>
    public string User { get; } = user;

    /// <summary>The room of the message.</summary>
    public string Room { get; } = room;

    /// <summary>Who wrote it.</summary>
    public string From { get; } = from;

    /// <summary>The message's id in the room.</summary>
    public long Id { get; } = id;

    /// <summary>When it was accepted.</summary>
    public DateTimeOffset Timestamp { get; } = timestamp;

    /// <summary>The first <see cref="ExcerptLength"/> characters of the text.</summary>
    public string Excerpt { get; } = excerpt;

    /// <summary>The excerpt of a text.</summary>
    public static string ExcerptOf(string text) => text.Length <= ExcerptLength ? text : text[..ExcerptLength];
}

/// <summary>
/// <see cref="User"/> read a room (<see cref="Room"/>) or a private conversation (<see cref="With"/>) up to
/// <see cref="Position"/>: sent to every connection of the user, so the other devices clear their badges. The counts
/// are what is left unread after the position (capped, see <see cref="IReadingStore.CountCap"/>).
/// </summary>
public sealed class ReadMarker(string user, string? room, string? with, long position, int unread, int mentions) : ChatEvent
{
    /// <summary>Who read.</summary>
    public string User { get; } = user;

    /// <summary>The room, or null for a private conversation.</summary>
    public string? Room { get; } = room;

    /// <summary>The other user of the private conversation, or null for a room.</summary>
    public string? With { get; } = with;

    /// <summary>The read position now (it never goes back).</summary>
    public long Position { get; } = position;

    /// <summary>Messages still unread after the position.</summary>
    public int Unread { get; } = unread;

    /// <summary>Mentions of the user still unread (rooms only).</summary>
    public int Mentions { get; } = mentions;
}
