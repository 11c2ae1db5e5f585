using System.Text;
using TinyChat.Chat;

namespace TinyChat.Protocols.Irc;

/// <summary>What one IRC connection makes of a pushed event: the shared bytes, lines of its own, or nothing.</summary>
public readonly record struct IrcRendering(bool Shared, string? Own)
{
    /// <summary>Send the event's shared encoding.</summary>
    public static IrcRendering AsShared { get; } = new(true, null);

    /// <summary>Send nothing.</summary>
    public static IrcRendering Nothing { get; } = new(false, null);
}

/// <summary>
/// One IRC connection's idea of its channels and who is in them, kept so the chat's presence events become the
/// JOIN/PART/QUIT lines an IRC client expects: a user going offline quits once (not once per shared room), a room
/// the user is in appears with a JOIN and its NAMES, and nothing is announced twice. Callers serialise access
/// (<see cref="IrcConnection"/> renders under its lock); the common case sends the event's shared bytes.
/// </summary>
public sealed class IrcChannelView(string nick, IrcEventEncoder encoder, IrcReplies replies)
{
    private readonly Dictionary<string, HashSet<string>> channels = new(StringComparer.Ordinal);

    // Channels shown by the user's own join in a presence diff, whose NAMES only the room's greeting can give. The
    // session tells the room the user is online and the connection asks it for the greeting, separately: either may
    // reach the room first, and a JOIN must still be followed by its NAMES.
    private readonly HashSet<string> namesOwed = new(StringComparer.Ordinal);

    /// <summary>The connection's nick (its user).</summary>
    public string Nick { get; } = nick;

    /// <summary>Whether the client sees its own messages (echo-message).</summary>
    public bool Echo { get; set; }

    /// <summary>Whether the client negotiated draft/message-redaction (deletions as REDACT).</summary>
    public bool Redaction { get; set; }

    /// <summary>Whether the client negotiated message-tags (typing notices).</summary>
    public bool MessageTags { get; set; }

    /// <summary>Whether this connection shows <paramref name="nick"/> in one of its channels.</summary>
    public bool SharesChannelWith(string nick) => channels.Values.Any(members => members.Contains(nick));

    /// <summary>Rooms this connection shows as joined channels.</summary>
    public IReadOnlyCollection<string> Rooms => channels.Keys;

    /// <summary>Decides what the client sees of an event, updating the view.</summary>
    public IrcRendering Render(ChatEvent chatEvent) => chatEvent switch
    {
        RoomMessage { Kind: not null } e => RoomEvent(e),
        RoomMessage m => m.From == Nick && !Echo ? IrcRendering.Nothing : IrcRendering.AsShared,
        PrivateMessage m => m.From == Nick && m.To != Nick && !Echo ? IrcRendering.Nothing : IrcRendering.AsShared,
        TypingNotice t => MessageTags && t.User != Nick ? IrcRendering.AsShared : IrcRendering.Nothing,
        // A room too big to list (Presence:FullStateMaxMembers) shows no one coming and going, as a big channel in
        // auditorium mode does: its count has no IRC form, and NAMES lists everyone on request.
        PresenceDiff { Relisting: true } or PresenceCount => IrcRendering.Nothing,
        PresenceDiff d => Diff(d),
        PresenceState s => new IrcRendering(false, State(s, announce: true)),
        _ => IrcRendering.Nothing,
    };

    // An invitation for this user (not a member yet) is an INVITE to them; a deletion is a REDACT for clients that
    // asked for it; a role change moves the @. Everything else is the shared line.
    private IrcRendering RoomEvent(RoomMessage e)
    {
        if (e.Kind == RoomEventKind.Role)
        {
            replies.Operators.Apply(e);
        }

        if (e.Kind == RoomEventKind.Invite && e.Target == Nick && !channels.ContainsKey(e.Room))
        {
            return new IrcRendering(false, encoder.InviteLine(e));
        }

        if (e.Kind == RoomEventKind.Delete && Redaction)
        {
            return new IrcRendering(false, encoder.RedactLine(e));
        }

        return channels.ContainsKey(e.Room) ? IrcRendering.AsShared : IrcRendering.Nothing;
    }

    /// <summary>The answer to this connection's own JOIN: the room's members become the channel's, and NAMES follows.</summary>
    public string Joined(PresenceState presence) => State(presence, announce: false);

    private string State(PresenceState presence, bool announce)
    {
        var known = channels.ContainsKey(presence.Room);
        var owed = namesOwed.Remove(presence.Room);
        var members = new HashSet<string>(presence.Online.Select(p => p.User), StringComparer.Ordinal) { Nick };
        channels[presence.Room] = members;
        if (!known)
        {
            replies.Operators.Shown(presence.Room);
        }
        if (known && announce && !owed)
        {
            // A resynchronisation (a restarted room, a greeting after a JOIN): the channel is already on screen.
            return "";
        }

        var lines = new StringBuilder();
        if (!known)
        {
            lines.Append(encoder.JoinLine(Nick, presence.Room));
        }

        lines.Append(replies.Names(presence.Room, members.Order(StringComparer.Ordinal)));
        if (presence.Counted || presence.Next is not null)
        {
            lines.Append(BigRoomNotice(presence));
        }

        return lines.ToString();
    }

    private string BigRoomNotice(PresenceState presence)
    {
        var channel = IrcChannels.ChannelOf(presence.Room);
        return IrcFormat.Line(
            replies.ServerName,
            "NOTICE",
            [Nick, $"{channel} has {presence.Total} users online, too many to show who joins and leaves; NAMES {channel} lists everyone"]);
    }

    /// <summary>The connection is closing: it shows no channel any more.</summary>
    public void Close()
    {
        foreach (var room in channels.Keys)
        {
            replies.Operators.Hidden(room);
        }

        channels.Clear();
        namesOwed.Clear();
    }

    private bool ShowChannel(string room)
    {
        if (!channels.TryAdd(room, new HashSet<string>(StringComparer.Ordinal) { Nick }))
        {
            return false;
        }

        replies.Operators.Shown(room);
        return true;
    }

    private bool ShowJoinedChannel(string room)
    {
        if (!ShowChannel(room))
        {
            return false;
        }

        namesOwed.Add(room);
        return true;
    }

    private bool HideChannel(string room)
    {
        namesOwed.Remove(room);
        if (!channels.Remove(room))
        {
            return false;
        }

        replies.Operators.Hidden(room);
        return true;
    }

    private IrcRendering Diff(PresenceDiff diff)
    {
        var all = true;
        var own = new StringBuilder();
        foreach (var join in diff.Joins)
        {
            if (diff.Leaves.Any(l => l.User == join.User))
            {
                continue;
            }

            var shown = join.User == Nick ? ShowJoinedChannel(diff.Room)
                : channels.TryGetValue(diff.Room, out var members) && members.Add(join.User);
            all &= shown;
            if (shown)
            {
                own.Append(encoder.JoinLine(join.User, diff.Room));
            }
        }

        foreach (var leave in diff.Leaves)
        {
            if (diff.Joins.Any(j => j.User == leave.User))
            {
                continue;
            }

            bool shown;
            if (leave.User == Nick)
            {
                shown = HideChannel(diff.Room);
            }
            else if (leave.Connections == 0)
            {
                // Offline: one QUIT for every channel shared with the user.
                shown = channels.TryGetValue(diff.Room, out var members) && members.Contains(leave.User);
                foreach (var channel in channels.Values)
                {
                    channel.Remove(leave.User);
                }
            }
            else
            {
                shown = channels.TryGetValue(diff.Room, out var members) && members.Remove(leave.User);
            }

            all &= shown;
            if (shown)
            {
                own.Append(encoder.LeaveLine(leave, diff.Room));
            }
        }

        return all ? IrcRendering.AsShared : new IrcRendering(false, own.ToString());
    }
}
