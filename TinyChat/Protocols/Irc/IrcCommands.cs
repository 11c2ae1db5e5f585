using System.Text;
using TinyChat.Chat;
using TinyChat.Runtime;

namespace TinyChat.Protocols.Irc;

/// <summary>The commands of a registered client, each answered with the standard replies and error numerics.</summary>
public sealed partial class IrcSession
{
    private async ValueTask CommandAsync(IrcLine line, ChatClient chat, CancellationToken cancellationToken)
    {
        switch (line.Command)
        {
            case "PING":
                Pong(line);
                break;
            case "PONG":
                break;
            case "CAP":
                HandleCap(line);
                break;
            case "PASS" or "USER":
                Send(replies.Numeric(IrcNumerics.AlreadyRegistered, "You may not reregister"));
                break;
            case "AUTHENTICATE":
                Send(replies.Numeric(IrcNumerics.SaslAlready, "You have already authenticated"));
                break;
            case "NICK":
                Nick(line);
                break;
            case "QUIT":
                await QuitAsync(line).ConfigureAwait(false);
                break;
            case "JOIN":
                await JoinAsync(line, chat, cancellationToken).ConfigureAwait(false);
                break;
            case "PART":
                await PartAsync(line, chat, cancellationToken).ConfigureAwait(false);
                break;
            case "PRIVMSG" or "NOTICE":
                await MessageAsync(line, chat, cancellationToken).ConfigureAwait(false);
                break;
            case "TAGMSG":
                await TagMessageAsync(line, chat, cancellationToken).ConfigureAwait(false);
                break;
            case "NAMES":
                await NamesAsync(line, chat, cancellationToken).ConfigureAwait(false);
                break;
            case "WHO":
                await WhoAsync(line, chat, cancellationToken).ConfigureAwait(false);
                break;
            case "WHOIS":
                await WhoisAsync(line, cancellationToken).ConfigureAwait(false);
                break;
            case "TOPIC":
                await TopicAsync(line, chat, cancellationToken).ConfigureAwait(false);
                break;
            case "KICK":
                await KickAsync(line, chat, cancellationToken).ConfigureAwait(false);
                break;
            case "INVITE":
                await InviteAsync(line, chat, cancellationToken).ConfigureAwait(false);
                break;
            case "REDACT":
                await RedactAsync(line, chat, cancellationToken).ConfigureAwait(false);
                break;
            case "LIST":
                await ListAsync(chat, cancellationToken).ConfigureAwait(false);
                break;
            case "AWAY":
                Away(line);
                break;
            case "MODE":
                await ModeAsync(line, chat, cancellationToken).ConfigureAwait(false);
                break;
            case "CHATHISTORY":
                await HistoryAsync(line, chat, cancellationToken).ConfigureAwait(false);
                break;
            case "LUSERS":
                Send(Lusers());
                break;
            case "MOTD":
                Send(Motd());
                break;
            default:
                Send(replies.Numeric(IrcNumerics.UnknownCommand, line.Command, "Unknown command"));
                break;
        }
    }

    private void Nick(IrcLine line)
    {
        if (line[0] is not { Length: > 0 } wanted)
        {
            Send(replies.Numeric(IrcNumerics.NoNicknameGiven, "No nickname given"));
        }
        else if (wanted != replies.Nick)
        {
            Send(replies.Numeric(IrcNumerics.ErroneousNickname, wanted, "Nick changes are not supported: your nick is your user name"));
        }
    }

    private async ValueTask QuitAsync(IrcLine line)
    {
        if (line[0] is { Length: > 0 } quitting && identity is not null)
        {
            identity = door.Users.Update(replies.Nick, identity, identity with { QuitReason = quitting });
        }

        // Offline before the goodbye: when the client sees the connection end, its name is free and others saw it quit.
        await DisposeAsync().ConfigureAwait(false);
        connection.Close(line[0] is { Length: > 0 } reason ? $"Quit: {reason}" : "Quit", drain: true);
    }

    private async ValueTask JoinAsync(IrcLine line, ChatClient chat, CancellationToken cancellationToken)
    {
        if (line[0] is not { } targets)
        {
            Send(replies.Numeric(IrcNumerics.NeedMoreParams, "JOIN", "Not enough parameters"));
            return;
        }

        if (targets == "0")
        {
            foreach (var joined in connection.WithView(v => v.Rooms.ToList(), []))
            {
                await chat.LeaveAsync(joined, cancellationToken).ConfigureAwait(false);
            }

            return;
        }

        foreach (var channel in targets.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            if (IrcChannels.RoomOf(channel) is not { } wanted)
            {
                Send(replies.Numeric(IrcChannels.IsChannel(channel) ? IrcNumerics.NoSuchChannel : IrcNumerics.BadChanMask, channel, "No such channel"));
                continue;
            }

            var room = await ResolveRoomAsync(wanted, cancellationToken).ConfigureAwait(false) ?? wanted;
            var joined = await chat.JoinAsync(room, cancellationToken).ConfigureAwait(false);
            if (joined.Error is { Code: "room_not_found" })
            {
                // IRC's convention: the first JOIN creates the channel (within the user's room-creation quota).
                var created = await chat.CreateAsync(room, cancellationToken).ConfigureAwait(false);
                if (created is not null && created.Code != "room_exists")
                {
                    Send(replies.Error(created, channel));
                    continue;
                }

                joined = await chat.JoinAsync(room, cancellationToken).ConfigureAwait(false);
            }

            if (joined.Error is { Code: "already_joined" })
            {
                continue;
            }

            if (joined.Error is { } error)
            {
                Send(replies.Error(error, channel));
                continue;
            }

            await DescribeAsync(chat, room, cancellationToken).ConfigureAwait(false);
            var presence = await chat.WhoAsync(room, cancellationToken).ConfigureAwait(false);
            if (presence.Value is { } state)
            {
                if (state.Online.All(p => p.User == replies.Nick))
                {
                    door.Operators.Opened(room, replies.Nick);
                }

                connection.WithView(v => connection.Send(v.Joined(state)), false);
            }
        }
    }

    private async ValueTask PartAsync(IrcLine line, ChatClient chat, CancellationToken cancellationToken)
    {
        if (line[0] is not { } targets)
        {
            Send(replies.Numeric(IrcNumerics.NeedMoreParams, "PART", "Not enough parameters"));
            return;
        }

        foreach (var channel in targets.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var room = IrcChannels.RoomOf(channel) is { } wanted ? await ResolveRoomAsync(wanted, cancellationToken).ConfigureAwait(false) : null;
            if (room is null)
            {
                Send(replies.Numeric(IrcNumerics.NoSuchChannel, channel, "No such channel"));
                continue;
            }

            if (line[1] is { Length: > 0 } reason && identity is not null)
            {
                identity = door.Users.Update(replies.Nick, identity, identity with { Parting = (room, reason) });
            }

            // The room's presence change is the PART line the client (and every member) sees.
            if (await chat.LeaveAsync(room, cancellationToken).ConfigureAwait(false) is { } error)
            {
                Send(replies.Error(error, channel));
            }
        }
    }

    private async ValueTask MessageAsync(IrcLine line, ChatClient chat, CancellationToken cancellationToken)
    {
        // NOTICE never triggers automatic replies (RFC 2812 3.3.2), errors included.
        var notice = line.Command == "NOTICE";
        if (line[0] is not { Length: > 0 } targets)
        {
            Reply(notice, replies.Numeric(IrcNumerics.NoRecipient, $"No recipient given ({line.Command})"));
            return;
        }

        if (line[1] is not { Length: > 0 } text)
        {
            Reply(notice, replies.Numeric(IrcNumerics.NoTextToSend, "No text to send"));
            return;
        }

        foreach (var target in targets.Split(',', StringSplitOptions.RemoveEmptyEntries).Take(4))
        {
            Outcome<long> sent;
            if (IrcChannels.IsChannel(target))
            {
                var room = IrcChannels.RoomOf(target) is { } wanted ? await ResolveRoomAsync(wanted, cancellationToken).ConfigureAwait(false) : null;
                if (room is null)
                {
                    Reply(notice, replies.Numeric(IrcNumerics.NoSuchChannel, target, "No such channel"));
                    continue;
                }

                sent = await chat.SendToRoomAsync(room, text, cancellationToken).ConfigureAwait(false);
                if (sent.Error is { Code: "not_a_member" })
                {
                    Reply(notice, replies.Numeric(IrcNumerics.CannotSendToChan, target, "Cannot send to channel (join it first)"));
                    continue;
                }
            }
            else
            {
                var nick = door.Users.Canonical(target);
                sent = await chat.SendPrivateAsync(nick, text, cancellationToken).ConfigureAwait(false);
                if (sent.IsOk && door.Users.Of(nick).Away is { } away && !notice)
                {
                    Send(replies.Numeric(IrcNumerics.Away, target, away));
                }
            }

            if (sent.Error is { Code: "rate_limited" })
            {
                ChatMetrics.RateLimitedFrames.Add(1, ChatMetrics.Protocol("irc"));
            }

            if (sent.Error is { Code: "rate_limited" } && Interlocked.Increment(ref refusedInARow) >= door.Limits.FloodDisconnectAfter)
            {
                ChatMetrics.Disconnects.Add(1, ChatMetrics.Reason("flood"));
                connection.Close("Closing link: Excess Flood", drain: true);
                return;
            }

            if (sent.Error is { } error)
            {
                Reply(notice, replies.Error(error, target));
            }
            else
            {
                refusedInARow = 0;
            }
        }
    }

    private async ValueTask TagMessageAsync(IrcLine line, ChatClient chat, CancellationToken cancellationToken)
    {
        if (line[0] is not { Length: > 0 } target || !line.Tags.TryGetValue("+typing", out var state) || state != "active")
        {
            return;
        }

        if (IrcChannels.IsChannel(target))
        {
            if (IrcChannels.RoomOf(target) is { } wanted && await ResolveRoomAsync(wanted, cancellationToken).ConfigureAwait(false) is { } room)
            {
                await chat.TypingAsync(room, cancellationToken).ConfigureAwait(false);
            }
        }
        else
        {
            chat.TypingTo(target);
        }
    }

    private async ValueTask NamesAsync(IrcLine line, ChatClient chat, CancellationToken cancellationToken)
    {
        if (line[0] is not { Length: > 0 } targets)
        {
            Send(replies.Numeric(IrcNumerics.EndOfNames, "*", "End of /NAMES list"));
            return;
        }

        // Several channels: their 353 lines, then one 366 naming the whole list (as the modern IRC docs have it).
        var lines = new StringBuilder();
        foreach (var channel in targets.Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var room = IrcChannels.RoomOf(channel) is { } wanted ? await ResolveRoomAsync(wanted, cancellationToken).ConfigureAwait(false) : null;
            var presence = room is null ? default : await chat.WhoAsync(room, cancellationToken).ConfigureAwait(false);
            if (presence.Value is { } state)
            {
                await DescribeAsync(chat, room!, cancellationToken).ConfigureAwait(false);
                lines.Append(replies.NameLines(room!, await EveryoneAsync(chat, state, cancellationToken).ConfigureAwait(false)));
            }
        }

        var end = targets.Contains(',') || lines.Length == 0 ? targets : IrcChannels.ChannelOf((await ResolveRoomAsync(targets[1..], cancellationToken).ConfigureAwait(false))!);
        Send(lines.Append(replies.Numeric(IrcNumerics.EndOfNames, end, "End of /NAMES list")).ToString());
    }

    // Everyone online in a room: a big room's who comes in pages, read to the end (bounded by the room's size).
    private static async ValueTask<List<string>> EveryoneAsync(ChatClient chat, PresenceState first, CancellationToken cancellationToken)
    {
        var users = new List<string>(first.Total);
        users.AddRange(first.Online.Select(p => p.User));
        var next = first.Next;
        for (var pages = 0; next is not null && pages <= first.Total / RoomProcess.MaxWhoPage + 1; pages++)
        {
            var page = await chat.WhoAsync(first.Room, next, RoomProcess.MaxWhoPage, cancellationToken).ConfigureAwait(false);
            if (page.Value is not { } more)
            {
                break;
            }

            users.AddRange(more.Online.Select(p => p.User));
            next = more.Next;
        }

        return users;
    }

    private async ValueTask WhoAsync(IrcLine line, ChatClient chat, CancellationToken cancellationToken)
    {
        var mask = line[0] is { Length: > 0 } given ? given : "*";
        var lines = new StringBuilder();
        if (IrcChannels.IsChannel(mask))
        {
            var room = IrcChannels.RoomOf(mask) is { } wanted ? await ResolveRoomAsync(wanted, cancellationToken).ConfigureAwait(false) : null;
            var presence = room is null ? default : await chat.WhoAsync(room, cancellationToken).ConfigureAwait(false);
            if (presence.IsOk && room is not null)
            {
                await DescribeAsync(chat, room, cancellationToken).ConfigureAwait(false);
            }

            foreach (var user in presence.Value is { } state ? await EveryoneAsync(chat, state, cancellationToken).ConfigureAwait(false) : [])
            {
                lines.Append(WhoLine(room!, user));
            }
        }
        else if (mask.AsSpan().IndexOfAny('*', '?') < 0)
        {
            var nick = door.Users.Canonical(mask);
            if (door.Chat.Sessions.FindOnline(nick) is not null)
            {
                lines.Append(WhoLine(null, nick));
            }
        }
        else
        {
            // Masks match the users online over IRC (other front doors' users have no host or real name to match).
            foreach (var (nick, who) in door.Users.All.OrderBy(u => u.Key, StringComparer.Ordinal))
            {
                if (who.Invisible && nick != replies.Nick && !connection.WithView(v => v.SharesChannelWith(nick), false))
                {
                    continue;
                }

                if (IrcChannels.Matches(mask, nick) || IrcChannels.Matches(mask, who.User) || IrcChannels.Matches(mask, who.Host)
                    || IrcChannels.Matches(mask, who.RealName) || IrcChannels.Matches(mask, $"{nick}!{who.User}@{who.Host}"))
                {
                    lines.Append(WhoLine(null, nick));
                }
            }
        }

        Send(lines.Append(replies.Numeric(IrcNumerics.EndOfWho, mask, "End of WHO list")).ToString());
    }

    private string WhoLine(string? room, string nick)
    {
        var who = door.Users.Of(nick);
        var flags = (who.Away is null ? "H" : "G") + (room is null ? "" : replies.Prefix(room, nick));
        return replies.Numeric(IrcNumerics.WhoReply, room is null ? "*" : IrcChannels.ChannelOf(room), who.User, who.Host, replies.ServerName, nick, flags, $"0 {who.RealName}");
    }

    private async ValueTask WhoisAsync(IrcLine line, CancellationToken cancellationToken)
    {
        var given = line.Parameters.Count > 1 ? line[1] : line[0];
        if (given is not { Length: > 0 })
        {
            Send(replies.Numeric(IrcNumerics.NoNicknameGiven, "No nickname given"));
            return;
        }

        var target = door.Users.Canonical(given);

        if (ChatNames.CheckUserName(target) is not null || door.Chat.Sessions.FindOnline(target) is null)
        {
            Send(replies.Numeric(IrcNumerics.NoSuchNick, target, "No such nick/channel") + replies.Numeric(IrcNumerics.EndOfWhois, target, "End of /WHOIS list"));
            return;
        }

        var who = door.Users.Of(target);
        var lines = new StringBuilder()
            .Append(replies.Numeric(IrcNumerics.WhoisUser, target, who.User, who.Host, "*", who.RealName))
            .Append(replies.Numeric(IrcNumerics.WhoisServer, target, replies.ServerName, "TinyChat"));
        if (who.Away is { } away)
        {
            lines.Append(replies.Numeric(IrcNumerics.Away, target, away));
        }

        if (await door.Chat.Accounts.ExistsAsync(target, cancellationToken).ConfigureAwait(false))
        {
            lines.Append(replies.Numeric(IrcNumerics.WhoisAccount, target, target, "is logged in as"));
        }

        Send(lines.Append(replies.Numeric(IrcNumerics.EndOfWhois, target, "End of /WHOIS list")).ToString());
    }

    private async ValueTask TopicAsync(IrcLine line, ChatClient chat, CancellationToken cancellationToken)
    {
        if (line[0] is not { } channel)
        {
            Send(replies.Numeric(IrcNumerics.NeedMoreParams, "TOPIC", "Not enough parameters"));
            return;
        }

        var room = IrcChannels.RoomOf(channel) is { } wanted ? await ResolveRoomAsync(wanted, cancellationToken).ConfigureAwait(false) : null;
        var presence = room is null ? default : await chat.WhoAsync(room, cancellationToken).ConfigureAwait(false);
        if (room is null || presence.Error is not null)
        {
            Send(room is null ? replies.Numeric(IrcNumerics.NoSuchChannel, channel, "No such channel") : replies.Error(presence.Error!, channel));
        }
        else if (line.Parameters.Count > 1)
        {
            // Set by the room: its TOPIC event reaches every member, this connection included.
            var set = await chat.SetTopicAsync(room, line[1] ?? "", cancellationToken).ConfigureAwait(false);
            if (set.Error is { } error)
            {
                Send(replies.Error(error, channel));
            }
        }
        else if ((await DescribeAsync(chat, room, cancellationToken).ConfigureAwait(false))?.Topic is { Length: > 0 } topic)
        {
            Send(replies.Numeric(IrcNumerics.Topic, IrcChannels.ChannelOf(room), topic));
        }
        else
        {
            Send(replies.Numeric(IrcNumerics.NoTopic, channel, "No topic is set"));
        }
    }

    // KICK #room nick[,nick] [:reason]: the room decides (owners and moderators, on members of a lower role); the
    // reason is not kept (room events carry none).
    private async ValueTask KickAsync(IrcLine line, ChatClient chat, CancellationToken cancellationToken)
    {
        if (line[0] is not { } channel || line[1] is not { Length: > 0 } nicks)
        {
            Send(replies.Numeric(IrcNumerics.NeedMoreParams, "KICK", "Not enough parameters"));
            return;
        }

        if (await ChannelRoomAsync(channel, cancellationToken).ConfigureAwait(false) is not { } room)
        {
            return;
        }

        foreach (var given in nicks.Split(',', StringSplitOptions.RemoveEmptyEntries).Take(4))
        {
            var nick = door.Users.Canonical(given);
            var kicked = await chat.KickAsync(room, nick, cancellationToken).ConfigureAwait(false);
            if (kicked.Error is { Code: "invalid_target" })
            {
                Send(replies.Numeric(IrcNumerics.UserNotInChannel, given, channel, "They aren't on that channel"));
            }
            else if (kicked.Error is { } error)
            {
                Send(replies.Error(error, error.Code == "user_not_found" ? given : channel));
            }
        }
    }

    // INVITE nick #room: answered 341; the invited user's IRC connections get an INVITE line.
    private async ValueTask InviteAsync(IrcLine line, ChatClient chat, CancellationToken cancellationToken)
    {
        if (line[0] is not { Length: > 0 } given || line[1] is not { } channel)
        {
            Send(replies.Numeric(IrcNumerics.NeedMoreParams, "INVITE", "Not enough parameters"));
            return;
        }

        if (await ChannelRoomAsync(channel, cancellationToken).ConfigureAwait(false) is not { } room)
        {
            return;
        }

        var nick = door.Users.Canonical(given);
        var invited = await chat.InviteAsync(room, nick, cancellationToken).ConfigureAwait(false);
        if (invited.IsOk)
        {
            Send(replies.Numeric(IrcNumerics.Inviting, nick, IrcChannels.ChannelOf(room)));
        }
        else if (invited.Error is { Code: "invalid_target" } refused && refused.Message.Contains("already a member", StringComparison.Ordinal))
        {
            Send(replies.Numeric(IrcNumerics.UserOnChannel, given, channel, "is already on channel"));
        }
        else
        {
            Send(replies.Error(invited.Error!, invited.Error!.Code == "user_not_found" ? given : channel));
        }
    }

    // REDACT #room msgid [:reason] (IRCv3 draft/message-redaction): deletes the message; FAIL REDACT when refused.
    private async ValueTask RedactAsync(IrcLine line, ChatClient chat, CancellationToken cancellationToken)
    {
        if (line[0] is not { } channel || line[1] is not { Length: > 0 } msgid)
        {
            Send(replies.Numeric(IrcNumerics.NeedMoreParams, "REDACT", "Not enough parameters"));
            return;
        }

        var room = IrcChannels.RoomOf(channel) is { } wanted ? await ResolveRoomAsync(wanted, cancellationToken).ConfigureAwait(false) : null;
        if (room is null)
        {
            Send(IrcFormat.Line(replies.ServerName, "FAIL", "REDACT", "INVALID_TARGET", channel, "No such channel"));
            return;
        }

        var separator = msgid.LastIndexOf(':');
        if (separator <= 0 || !IrcChannels.SameName(msgid[..separator], room) || !long.TryParse(msgid[(separator + 1)..], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var id))
        {
            Send(IrcFormat.Line(replies.ServerName, "FAIL", "REDACT", "UNKNOWN_MSGID", channel, msgid, "This message does not exist in that channel"));
            return;
        }

        var deleted = await chat.DeleteAsync(room, id, cancellationToken).ConfigureAwait(false);
        switch (deleted.Error)
        {
            case null:
                break;
            case { Code: "message_not_found" }:
                Send(IrcFormat.Line(replies.ServerName, "FAIL", "REDACT", "UNKNOWN_MSGID", channel, msgid, "This message does not exist or was deleted"));
                break;
            case { Code: "forbidden" or "not_a_member" } refused:
                Send(IrcFormat.Line(replies.ServerName, "FAIL", "REDACT", "REDACT_FORBIDDEN", channel, msgid, refused.Message));
                break;
            case var other:
                Send(replies.Error(other, channel));
                break;
        }
    }

    // A channel's room for a moderation command: null (and 403 sent) when there is none.
    private async ValueTask<string?> ChannelRoomAsync(string channel, CancellationToken cancellationToken)
    {
        var room = IrcChannels.RoomOf(channel) is { } wanted ? await ResolveRoomAsync(wanted, cancellationToken).ConfigureAwait(false) : null;
        if (room is null)
        {
            Send(replies.Numeric(IrcNumerics.NoSuchChannel, channel, "No such channel"));
        }

        return room;
    }

    // The room's privacy, topic and roles (null when the user may not see them); refreshes who shows as operator.
    private async ValueTask<RoomDetails?> DescribeAsync(ChatClient chat, string room, CancellationToken cancellationToken)
    {
        var details = (await chat.DescribeAsync(room, cancellationToken).ConfigureAwait(false)).Value;
        if (details is not null)
        {
            var ownerHasAccount = details.Owner is { } owner && await door.Chat.Accounts.ExistsAsync(owner, cancellationToken).ConfigureAwait(false);
            door.Operators.Describe(details, ownerHasAccount);
        }

        return details;
    }

    private async ValueTask ListAsync(ChatClient chat, CancellationToken cancellationToken)
    {
        var rooms = await chat.RoomsAsync(cancellationToken).ConfigureAwait(false);
        var lines = new StringBuilder(replies.Numeric(IrcNumerics.ListStart, "Channel", "Users  Name"));
        foreach (var room in rooms.Value?.All ?? [])
        {
            lines.Append(replies.Numeric(IrcNumerics.List, IrcChannels.ChannelOf(room), "0", ""));
        }

        Send(lines.Append(replies.Numeric(IrcNumerics.ListEnd, "End of /LIST")).ToString());
    }

    private void Away(IrcLine line)
    {
        var message = line[0] is { Length: > 0 } text ? text : null;
        if (identity is not null)
        {
            identity = door.Users.Update(replies.Nick, identity, identity with { Away = message });
        }

        Send(message is null ? replies.Numeric(IrcNumerics.UnAway, "You are no longer marked as being away") : replies.Numeric(IrcNumerics.NowAway, "You have been marked as being away"));
    }

    private async ValueTask ModeAsync(IrcLine line, ChatClient chat, CancellationToken cancellationToken)
    {
        if (line[0] is not { } target)
        {
            Send(replies.Numeric(IrcNumerics.NeedMoreParams, "MODE", "Not enough parameters"));
            return;
        }

        if (!IrcChannels.IsChannel(target))
        {
            if (!IrcChannels.SameName(target, replies.Nick))
            {
                Send(replies.Numeric(door.Chat.Sessions.FindOnline(target) is null ? IrcNumerics.NoSuchNick : IrcNumerics.UsersDontMatch, target, "Cannot change mode for other users"));
            }
            else
            {
                if (line.Parameters.Count > 1 && line[1] is not ("+i" or "-i"))
                {
                    Send(replies.Numeric(IrcNumerics.UModeUnknownFlag, "Unknown MODE flag"));
                }
                else if (line.Parameters.Count > 1 && identity is not null && identity.Invisible != (line[1] == "+i"))
                {
                    identity = door.Users.Update(replies.Nick, identity, identity with { Invisible = line[1] == "+i" });
                    Send($":{Source} MODE {replies.Nick} :{line[1]}\r\n");
                }
                else if (line.Parameters.Count == 1)
                {
                    Send(replies.Numeric(IrcNumerics.UModeIs, identity?.Invisible == true ? "+i" : "+"));
                }
            }

            return;
        }

        var room = IrcChannels.RoomOf(target) is { } wanted ? await ResolveRoomAsync(wanted, cancellationToken).ConfigureAwait(false) : null;
        if (room is null)
        {
            Send(replies.Numeric(IrcNumerics.NoSuchChannel, target, "No such channel"));
        }
        else if (line.Parameters.Count == 1)
        {
            // +i: a private room, joined by invitation only.
            var details = await DescribeAsync(chat, room, cancellationToken).ConfigureAwait(false);
            Send(replies.Numeric(IrcNumerics.ChannelModeIs, target, details?.IsPrivate == true ? "+i" : "+"));
        }
        else if (line.Parameters.Count == 2 && line[1]!.TrimStart('+') is "b" or "q")
        {
            // The ban and quiet lists are not listed over IRC.
            Send(replies.Numeric(IrcNumerics.EndOfBanList, target, "End of channel ban list"));
        }
        else
        {
            await ChangeModesAsync(line, chat, room, target, cancellationToken).ConfigureAwait(false);
        }
    }

    // MODE #room +o/-o nick (moderator), +b/-b mask (ban), +q/-q mask (mute for the chat's default 600 s): each
    // change is one room action, announced back as a MODE line when the room accepts it. A mask names a nick
    // (nick, or nick!*@*). Other modes are refused with 472.
    private async ValueTask ChangeModesAsync(IrcLine line, ChatClient chat, string room, string channel, CancellationToken cancellationToken)
    {
        var adding = true;
        var next = 2;
        foreach (var mode in line[1]!)
        {
            switch (mode)
            {
                case '+' or '-':
                    adding = mode == '+';
                    continue;
                case 'o' or 'b' or 'q':
                    if (line[next++] is not { Length: > 0 } parameter)
                    {
                        Send(replies.Numeric(IrcNumerics.NeedMoreParams, "MODE", "Not enough parameters"));
                        return;
                    }

                    var nick = door.Users.Canonical(parameter.Split('!')[0]);
                    var acted = (mode, adding) switch
                    {
                        ('o', true) => await chat.SetRoleAsync(room, nick, RoomRole.Moderator, cancellationToken).ConfigureAwait(false),
                        ('o', false) => await chat.SetRoleAsync(room, nick, RoomRole.Member, cancellationToken).ConfigureAwait(false),
                        ('b', true) => await chat.BanAsync(room, nick, cancellationToken).ConfigureAwait(false),
                        ('b', false) => await chat.UnbanAsync(room, nick, cancellationToken).ConfigureAwait(false),
                        ('q', true) => await chat.MuteAsync(room, nick, TimeSpan.FromMinutes(10), cancellationToken).ConfigureAwait(false),
                        _ => await chat.UnmuteAsync(room, nick, cancellationToken).ConfigureAwait(false),
                    };
                    if (acted.Error is { Code: "invalid_target" } refused && mode == 'o')
                    {
                        Send(replies.Numeric(IrcNumerics.UserNotInChannel, parameter, channel, refused.Message));
                    }
                    else if (acted.Error is { } error)
                    {
                        Send(error.Code is "user_not_found" ? replies.Error(error, parameter) : error.Code is "invalid_target" ? IrcFormat.Line(replies.ServerName, "NOTICE", replies.Nick, $"{channel}: {error.Message}") : replies.Error(error, channel));
                    }

                    break;
                default:
                    Send(replies.Numeric(IrcNumerics.UnknownMode, mode.ToString(), $"is unknown mode char to me for {channel}: TinyChat maps only +o, +b and +q"));
                    break;
            }
        }
    }

    private void Reply(bool notice, string lines)
    {
        if (!notice)
        {
            Send(lines);
        }
    }

    // IRC names are case-insensitive, chat names are not: the room of a channel is the joined or existing room
    // whose name matches, exactly if there is one; null when none exists.
    private async ValueTask<string?> ResolveRoomAsync(string wanted, CancellationToken cancellationToken)
    {
        var joined = connection.WithView(v => v.Rooms.ToList(), []);
        if (joined.Contains(wanted))
        {
            return wanted;
        }

        if (joined.FirstOrDefault(r => IrcChannels.SameName(r, wanted)) is { } shown)
        {
            return shown;
        }

        var all = await door.Chat.Rooms.ListAsync(cancellationToken).ConfigureAwait(false);
        return all.Contains(wanted) ? wanted : all.FirstOrDefault(r => IrcChannels.SameName(r, wanted));
    }
}
