using System.Text;
using TinyChat.Chat;

namespace TinyChat.Protocols.Irc;

/// <summary>Numeric replies to one client: <c>:server NNN nick params</c>, the nick being <c>*</c> until it is known.</summary>
public sealed class IrcReplies(string serverName, IrcUsers users, IrcChannelOperators operators)
{
    /// <summary>Whether NAMES shows <c>nick!user@host</c> (userhost-in-names).</summary>
    public bool UserHostInNames { get; set; }

    /// <summary>A member as NAMES and WHO show it: <c>@</c> for the room's owner and moderators.</summary>
    public string Prefix(string room, string nick) => operators.IsOperator(room, nick) ? "@" : "";

    /// <summary>The room owners and moderators shown as operators (followed as role events arrive).</summary>
    public IrcChannelOperators Operators => operators;

    /// <summary>The server name used as the source of replies.</summary>
    public string ServerName { get; } = serverName;

    /// <summary>The client's nick as replies address it.</summary>
    public string Nick { get; set; } = "*";

    /// <summary>A numeric reply; the last parameter is sent as trailing.</summary>
    public string Numeric(string code, params ReadOnlySpan<string> parameters)
    {
        var all = new string[parameters.Length + 1];
        all[0] = Nick;
        parameters.CopyTo(all.AsSpan(1));
        return IrcFormat.Line(ServerName, code, all);
    }

    /// <summary>
    /// The NAMES reply for a room: 353 lines (as many as the nicks need) and 366; owners and moderators show as
    /// operators (<c>@</c>).
    /// </summary>
    public string Names(string room, IEnumerable<string> nicks) =>
        NameLines(room, nicks) + Numeric(IrcNumerics.EndOfNames, IrcChannels.ChannelOf(room), "End of /NAMES list");

    /// <summary>The 353 lines of a room's NAMES, without the closing 366.</summary>
    public string NameLines(string room, IEnumerable<string> nicks)
    {
        var channel = IrcChannels.ChannelOf(room);
        var lines = new StringBuilder();
        var head = $":{ServerName} {IrcNumerics.NameReply} {Nick} = {channel} :";
        var line = new StringBuilder();
        foreach (var member in nicks)
        {
            var nick = Prefix(room, member) + (UserHostInNames ? users.Source(member) : member);
            if (line.Length > 0 && head.Length + line.Length + nick.Length + 3 > IrcFormat.MaxLineBytes)
            {
                lines.Append(head).Append(line).Append("\r\n");
                line.Clear();
            }

            line.Append(line.Length > 0 ? " " : "").Append(nick);
        }

        if (line.Length > 0)
        {
            lines.Append(head).Append(line).Append("\r\n");
        }

        return lines.ToString();
    }

    /// <summary>The numeric that answers a refused chat command about <paramref name="target"/>.</summary>
    public string Error(ChatError error, string target) => error.Code switch
    {
        "room_not_found" or "invalid_room_name" => Numeric(IrcNumerics.NoSuchChannel, target, "No such channel"),
        "forbidden" => Numeric(IrcNumerics.ChanOpPrivsNeeded, target, $"You're not a channel operator: {error.Message}"),
        "not_invited" => Numeric(IrcNumerics.InviteOnlyChan, target, "Cannot join channel (+i): you need an invitation"),
        "banned" => Numeric(IrcNumerics.BannedFromChan, target, "Cannot join channel (+b): you are banned"),
        "muted" => Numeric(IrcNumerics.CannotSendToChan, target, $"Cannot send to channel (+q): {error.Message}"),
        "not_a_member" => Numeric(IrcNumerics.NotOnChannel, target, "You're not on that channel"),
        "user_not_found" => Numeric(IrcNumerics.NoSuchNick, target, "No such nick/channel"),
        "empty_message" => Numeric(IrcNumerics.NoTextToSend, "No text to send"),
        "room_quota" => Numeric(IrcNumerics.TooManyChannels, target, error.Message),
        "message_too_long" => Numeric(IrcNumerics.CannotSendToChan, target, error.Message),
        "rate_limited" => IrcFormat.Line(ServerName, "NOTICE", Nick, $"{target}: message not sent, {error.Message}"),
        _ => IrcFormat.Line(ServerName, "NOTICE", Nick, $"{target}: {error.Message}"),
    };
}
