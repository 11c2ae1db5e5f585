using TinyChat.Chat;

namespace TinyChat.Storage;

/// <summary>
/// How the SQL stores keep a room's access: one row per user and standing (<c>moderator</c>, <c>invited</c>,
/// <c>banned</c>, <c>muted</c> with when it ends), and which standing each stored event adds or removes.
/// </summary>
public static class RoomStandings
{
    /// <summary>Made a moderator by the owner.</summary>
    public const string Moderator = "moderator";

    /// <summary>Invited into a private room.</summary>
    public const string Invited = "invited";

    /// <summary>Banned until unbanned.</summary>
    public const string Banned = "banned";

    /// <summary>Muted until the row's time.</summary>
    public const string Muted = "muted";

    /// <summary>The access of a room from its row and its standing rows.</summary>
    public static RoomAccess Build(bool isPrivate, string? owner, string? topic, IEnumerable<(string User, string Standing, long? UntilMs)> rows)
    {
        var moderators = new HashSet<string>(StringComparer.Ordinal);
        var invited = new HashSet<string>(StringComparer.Ordinal);
        var banned = new HashSet<string>(StringComparer.Ordinal);
        var muted = new Dictionary<string, DateTimeOffset>(StringComparer.Ordinal);
        foreach (var (user, standing, until) in rows)
        {
            switch (standing)
            {
                case Moderator: moderators.Add(user); break;
                case Invited: invited.Add(user); break;
                case Banned: banned.Add(user); break;
                case Muted: muted[user] = DateTimeOffset.FromUnixTimeMilliseconds(until ?? 0); break;
            }
        }

        return new RoomAccess(isPrivate, owner, string.IsNullOrEmpty(topic) ? null : topic, moderators, invited, banned, muted);
    }

    /// <summary>
    /// What storing <paramref name="e"/> does besides inserting its row: standings to add (with a mute's end),
    /// standings to remove, whether the target's membership ends.
    /// </summary>
    public static (string? Add, long? UntilMs, string[] Remove, bool EndsMembership) EffectOf(NewRoomMessage e) => e.Kind switch
    {
        RoomEventKind.Invite => (Invited, null, [], false),
        RoomEventKind.Kick => (null, null, [Invited], true),
        RoomEventKind.Ban => (Banned, null, [Invited], true),
        RoomEventKind.Unban => (null, null, [Banned], false),
        RoomEventKind.Mute => (Muted, (e.Until ?? e.Timestamp).ToUnixTimeMilliseconds(), [], false),
        RoomEventKind.Unmute => (null, null, [Muted], false),
        RoomEventKind.Role when e.Text == Moderator => (Moderator, null, [], false),
        RoomEventKind.Role => (null, null, [Moderator], false),
        _ => (null, null, [], false),
    };

    /// <summary>A stored room row as history shows it; the columns are those of the SQL stores' room message rows.</summary>
    public static RoomMessage Message(
        string room, long seq, string sender, string body, long sentAtMs, string? kind, string? target, long? refersTo, long? untilMs, long? editedAtMs, bool deleted) =>
        new(room, sender, body, seq, DateTimeOffset.FromUnixTimeMilliseconds(sentAtMs))
        {
            Kind = kind,
            Target = target,
            RefersTo = refersTo,
            Until = untilMs is { } until ? DateTimeOffset.FromUnixTimeMilliseconds(until) : null,
            EditedAt = editedAtMs is { } edited ? DateTimeOffset.FromUnixTimeMilliseconds(edited) : null,
            Deleted = deleted,
        };
}
