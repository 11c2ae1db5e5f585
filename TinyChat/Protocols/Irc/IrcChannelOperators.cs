using System.Collections.Concurrent;
using System.Collections.Immutable;
using TinyChat.Chat;

namespace TinyChat.Protocols.Irc;

/// <summary>
/// Who IRC shows as a channel operator (<c>@</c> in NAMES and WHO): each room's owner and moderators, as the room
/// last described them to any IRC connection, kept current by the room's role events. A room without an owner who
/// has an account (the default room, rooms older than roles, rooms an IRC guest created) also keeps IRC's
/// convention that whoever opens an empty channel is its operator: shown only, it confers nothing. Shared by every
/// IRC connection.
/// </summary>
public sealed class IrcChannelOperators
{
    private readonly ConcurrentDictionary<string, ImmutableHashSet<string>> operators = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> openers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> ownerless = new(StringComparer.Ordinal);

    /// <summary>Whether <paramref name="nick"/> shows as an operator of <paramref name="room"/>.</summary>
    public bool IsOperator(string room, string nick) =>
        (operators.TryGetValue(room, out var ops) && ops.Contains(nick))
        || (ownerless.GetValueOrDefault(room) && openers.TryGetValue(room, out var opener) && opener == nick);

    /// <summary>Takes the owner and moderators from a fresh description of the room; <paramref name="ownerHasAccount"/> tells whether its owner is an account.</summary>
    public void Describe(RoomDetails details, bool ownerHasAccount)
    {
        var ops = ImmutableHashSet.CreateRange(StringComparer.Ordinal, details.Moderators);
        operators[details.Room] = details.Owner is { } owner ? ops.Add(owner) : ops;
        ownerless[details.Room] = !ownerHasAccount;
    }

    /// <summary>An IRC user joined the channel while nobody was online in it.</summary>
    public void Opened(string room, string nick) => openers[room] = nick;

    /// <summary>Follows a role event: a new moderator becomes an operator, a moderator made a member stops being one.</summary>
    public void Apply(RoomMessage roleEvent)
    {
        if (roleEvent.Kind != RoomEventKind.Role || roleEvent.Target is not { } user)
        {
            return;
        }

        operators.AddOrUpdate(
            roleEvent.Room,
            _ => roleEvent.Text == "moderator" ? ImmutableHashSet.Create(StringComparer.Ordinal, user) : ImmutableHashSet.Create<string>(StringComparer.Ordinal),
            (_, ops) => roleEvent.Text == "moderator" ? ops.Add(user) : ops.Remove(user));
    }
}
