using System.Collections.Concurrent;
using System.Collections.Immutable;
using TinyChat.Chat;
using TinyChat.Runtime;

namespace TinyChat.Protocols.Irc;

/// <summary>
/// Who IRC shows as a channel operator (<c>@</c> in NAMES and WHO): each room's owner and moderators, as the room
/// last described them to any IRC connection, kept current by the room's role events. A room without an owner who
/// has an account (the default room, rooms older than roles, rooms an IRC guest created) also keeps IRC's
/// convention that whoever opens an empty channel is its operator: shown only, it confers nothing. Shared by every
/// IRC connection. A room is kept only while an IRC connection shows its channel: when the last one leaves, the
/// channel is empty to IRC (its opener is no operator any more) and the next JOIN describes the room afresh.
/// </summary>
public sealed class IrcChannelOperators : IForgetsIdle
{
    private readonly ConcurrentDictionary<string, ImmutableHashSet<string>> operators = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> openers = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> ownerless = new(StringComparer.Ordinal);

    // How many IRC connections show each channel now.
    private readonly Dictionary<string, int> shownBy = new(StringComparer.Ordinal);
    private readonly Lock gate = new();

    /// <summary>Rooms with anything kept here (tests watch it empty).</summary>
    public int RoomsKept => operators.Keys.Union(openers.Keys).Union(ownerless.Keys).Count();

    /// <summary>An IRC connection shows the room's channel now (it joined, or was greeted with it).</summary>
    public void Shown(string room)
    {
        lock (gate)
        {
            shownBy[room] = shownBy.GetValueOrDefault(room) + 1;
        }
    }

    /// <summary>An IRC connection stopped showing the room's channel (it parted, was removed, or closed); the last one forgets the room.</summary>
    public void Hidden(string room)
    {
        lock (gate)
        {
            if (!shownBy.TryGetValue(room, out var count))
            {
                return;
            }

            if (count > 1)
            {
                shownBy[room] = count - 1;
                return;
            }

            shownBy.Remove(room);
            Forget(room);
        }
    }

    /// <summary>
    /// Forgets the rooms no IRC connection shows: those described for a command about a channel its user is not in
    /// (MODE, NAMES or WHO from outside). Returns how many.
    /// </summary>
    public int ForgetIdle()
    {
        lock (gate)
        {
            var unshown = operators.Keys.Union(openers.Keys).Union(ownerless.Keys).Where(room => !shownBy.ContainsKey(room)).ToList();
            foreach (var room in unshown)
            {
                Forget(room);
            }

            return unshown.Count;
        }
    }

    private void Forget(string room)
    {
        operators.TryRemove(room, out _);
        openers.TryRemove(room, out _);
        ownerless.TryRemove(room, out _);
    }

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
