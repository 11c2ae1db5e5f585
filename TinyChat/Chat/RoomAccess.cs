namespace TinyChat.Chat;

/// <summary>What a member may do in a room, from least to most.</summary>
public enum RoomRole
{
    /// <summary>Reads, posts, edits and deletes own messages.</summary>
    Member,

    /// <summary>Also invites, kicks, bans, mutes, unbans, sets the topic and deletes anyone's messages.</summary>
    Moderator,

    /// <summary>The room's creator: also makes members moderators and back.</summary>
    Owner,

    /// <summary>A server admin (<c>Chat:Admins</c> or the first seed user): everything, in every room.</summary>
    Admin,
}

/// <summary>
/// The kinds of stored room events besides plain messages. Each is a row of the room's history with an id in the
/// room's order; storing one also applies it (a ban records the ban and ends the membership in the same
/// transaction), so what a room announces and what the store holds never disagree.
/// </summary>
public static class RoomEventKind
{
    /// <summary>A member invited <c>Target</c> into a private room.</summary>
    public const string Invite = "invite";

    /// <summary><c>Target</c>'s membership was ended by a moderator; a public room may be joined again.</summary>
    public const string Kick = "kick";

    /// <summary><c>Target</c> was removed and may not join again until unbanned.</summary>
    public const string Ban = "ban";

    /// <summary><c>Target</c> may join again.</summary>
    public const string Unban = "unban";

    /// <summary><c>Target</c> may not post until <c>Until</c>.</summary>
    public const string Mute = "mute";

    /// <summary><c>Target</c> may post again.</summary>
    public const string Unmute = "unmute";

    /// <summary><c>Target</c>'s role became <c>Text</c> (<c>moderator</c> or <c>member</c>).</summary>
    public const string Role = "role";

    /// <summary>The room's topic became <c>Text</c> (empty: no topic).</summary>
    public const string Topic = "topic";

    /// <summary>Message <c>RefersTo</c> now reads <c>Text</c> (its author edited it).</summary>
    public const string Edit = "edit";

    /// <summary>Message <c>RefersTo</c> was deleted: its text is gone, a tombstone keeps its place.</summary>
    public const string Delete = "delete";

    /// <summary>Whether an event of this kind changes who may do what in the room (the room reloads its access).</summary>
    public static bool ChangesAccess(string? kind) => kind is Invite or Kick or Ban or Unban or Mute or Unmute or Role or Topic;
}

/// <summary>
/// Who may do what in one room, as stored: whether it is private, its owner and topic, its moderators, the users
/// invited in, banned out or muted (until when). Loaded by the room's process; changed only by storing events.
/// </summary>
public sealed record RoomAccess(
    bool IsPrivate,
    string? Owner,
    string? Topic,
    IReadOnlySet<string> Moderators,
    IReadOnlySet<string> Invited,
    IReadOnlySet<string> Banned,
    IReadOnlyDictionary<string, DateTimeOffset> MutedUntil)
{
    /// <summary>A public room nobody owns and nobody is restricted in (the default room, or a room created before roles existed).</summary>
    public static RoomAccess Open { get; } = new(
        false,
        null,
        null,
        new HashSet<string>(StringComparer.Ordinal),
        new HashSet<string>(StringComparer.Ordinal),
        new HashSet<string>(StringComparer.Ordinal),
        new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal));

    /// <summary>The user's role in the room (a server admin is <see cref="RoomRole.Admin"/> everywhere).</summary>
    public RoomRole RoleOf(string user, bool isAdmin) =>
        isAdmin ? RoomRole.Admin
        : string.Equals(user, Owner, StringComparison.Ordinal) ? RoomRole.Owner
        : Moderators.Contains(user) ? RoomRole.Moderator
        : RoomRole.Member;

    /// <summary>When the user's mute ends, if it has not yet at <paramref name="now"/>.</summary>
    public DateTimeOffset? MutedAt(string user, DateTimeOffset now) =>
        MutedUntil.TryGetValue(user, out var until) && until > now ? until : null;
}

/// <summary>What the room tells a member about itself: its name, privacy, topic and who holds which role.</summary>
public sealed record RoomDetails(string Room, bool IsPrivate, string? Topic, string? Owner, IReadOnlyList<string> Moderators, RoomRole YourRole);
