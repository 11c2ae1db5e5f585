using System.Text;
using TinyChat.Chat;

namespace TinyChat.Protocols.Irc;

/// <summary>
/// Chat events as IRC lines, encoded once per event for every IRC recipient of one variant: with tags
/// (<c>time</c>, <c>msgid</c>; for clients that negotiated <c>server-time</c> or <c>message-tags</c>) or without.
/// A room message is a <c>PRIVMSG #room</c> (several when it is longer than a line or has line breaks); a private
/// message a <c>PRIVMSG nick</c>; a presence change <c>JOIN</c>, <c>PART</c> (left the room) or <c>QUIT</c> (went
/// offline); typing a <c>TAGMSG</c> with <c>+typing</c> (tagged variant only). Presence snapshots are per connection
/// (see <see cref="IrcChannelView"/>) and encode to nothing here.
/// </summary>
public sealed class IrcEventEncoder(IrcUsers users, bool tags) : IEventEncoder
{
    /// <summary>Whether this variant carries message tags.</summary>
    public bool Tags { get; } = tags;

    /// <inheritdoc />
    public ReadOnlyMemory<byte> Encode(ChatEvent chatEvent) => chatEvent switch
    {
        RoomMessage { Kind: not null } e => Encoding.UTF8.GetBytes(RoomEvent(e)),
        RoomMessage m => Encoding.UTF8.GetBytes(Message(m.From, IrcChannels.ChannelOf(m.Room), m.Text, m.Timestamp, $"{m.Room}:{m.Id}")),
        PrivateMessage m => Encoding.UTF8.GetBytes(Message(m.From, m.To, m.Text, m.Timestamp, $"pm:{m.Id}")),
        PresenceDiff d => Encoding.UTF8.GetBytes(Presence(d)),
        TypingNotice t when Tags => Encoding.UTF8.GetBytes($"@+typing=active :{users.Source(t.User)} TAGMSG {(t.Room is { } room ? IrcChannels.ChannelOf(room) : t.To)}\r\n"),
        _ => ReadOnlyMemory<byte>.Empty,
    };

    /// <summary>The lines of one presence change, skipping a user who is in both lists (a session replaced).</summary>
    public string Presence(PresenceDiff diff)
    {
        var lines = new StringBuilder();
        foreach (var join in diff.Joins)
        {
            if (!diff.Leaves.Any(l => l.User == join.User))
            {
                lines.Append(JoinLine(join.User, diff.Room));
            }
        }

        foreach (var leave in diff.Leaves)
        {
            if (!diff.Joins.Any(j => j.User == leave.User))
            {
                lines.Append(LeaveLine(leave, diff.Room));
            }
        }

        return lines.ToString();
    }

    /// <summary>A user's JOIN of a room.</summary>
    public string JoinLine(string user, string room) => $":{users.Source(user)} JOIN {IrcChannels.ChannelOf(room)}\r\n";

    /// <summary>A user's QUIT (offline: no connection left) or PART (left the room).</summary>
    public string LeaveLine(PresenceEntry leave, string room)
    {
        var who = users.Of(leave.User);
        var source = $"{leave.User}!{who.User}@{who.Host}";
        return leave.Connections == 0 ? $":{source} QUIT :Quit: {who.QuitReason ?? "offline"}\r\n"
            : who.Parting is { } parting && parting.Room == room ? IrcFormat.Line(source, "PART", IrcChannels.ChannelOf(room), parting.Reason)
            : $":{source} PART {IrcChannels.ChannelOf(room)}\r\n";
    }

    /// <summary>An invitation as the invited user sees it: <c>:inviter INVITE nick #room</c>.</summary>
    public string InviteLine(RoomMessage invite) =>
        TagPrefix(invite) + IrcFormat.Line(users.Source(invite.From), "INVITE", invite.Target ?? "", IrcChannels.ChannelOf(invite.Room));

    /// <summary>A deletion for a client that negotiated draft/message-redaction: <c>REDACT #room msgid</c>.</summary>
    public string RedactLine(RoomMessage deletion) =>
        TagPrefix(deletion) + $":{users.Source(deletion.From)} REDACT {IrcChannels.ChannelOf(deletion.Room)} {deletion.Room}:{deletion.RefersTo}\r\n";

    private string TagPrefix(RoomMessage e) => Tags ? $"@time={IrcFormat.Time(e.Timestamp)};msgid={e.Room}:{e.Id} " : "";

    // Kicks, topics, roles, bans and mutes have IRC commands or modes of their own (a mute is the quiet mode +q, as
    // on charybdis and solanum); the rest are told as a NOTICE to the channel. A ban mask names the nick only.
    private string RoomEvent(RoomMessage e)
    {
        var channel = IrcChannels.ChannelOf(e.Room);
        var source = users.Source(e.From);
        var tagPrefix = TagPrefix(e);
        var mask = $"{e.Target}!*@*";
        var line = e.Kind switch
        {
            RoomEventKind.Kick => IrcFormat.Line(source, "KICK", channel, e.Target ?? "", $"kicked by {e.From}"),
            RoomEventKind.Topic => IrcFormat.Line(source, "TOPIC", channel, e.Text),
            RoomEventKind.Role => $":{source} MODE {channel} {(e.Text == "moderator" ? "+o" : "-o")} {e.Target}\r\n",
            RoomEventKind.Ban => $":{source} MODE {channel} +b {mask}\r\n",
            RoomEventKind.Unban => $":{source} MODE {channel} -b {mask}\r\n",
            RoomEventKind.Mute => $":{source} MODE {channel} +q {mask}\r\n",
            RoomEventKind.Unmute => $":{source} MODE {channel} -q {mask}\r\n",
            _ => null,
        };
        if (line is not null)
        {
            return tagPrefix + line;
        }

        var notice = e.Kind switch
        {
            RoomEventKind.Invite => $"{e.From} invited {e.Target}",
            RoomEventKind.Edit => $"{e.From} edited message {e.RefersTo}: {e.Text}",
            RoomEventKind.Delete => $"{e.From} deleted message {e.RefersTo}",
            _ => $"{e.From}: {e.Kind}",
        };
        return string.Concat(IrcFormat.SplitText($":{source} NOTICE {channel} :", notice.ReplaceLineEndings(" ")).Select(piece => $"{tagPrefix}:{source} NOTICE {channel} :{piece}\r\n"));
    }

    private string Message(string from, string target, string text, DateTimeOffset at, string id)
    {
        var head = $":{users.Source(from)} PRIVMSG {target} :";
        var tagPrefix = Tags ? $"@time={IrcFormat.Time(at)};msgid={id} " : "";
        var lines = new StringBuilder();
        foreach (var piece in IrcFormat.SplitText(head, text))
        {
            lines.Append(tagPrefix).Append(head).Append(piece).Append("\r\n");
        }

        return lines.ToString();
    }
}
