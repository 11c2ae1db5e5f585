using System.Globalization;
using System.Text;
using TinyChat.Chat;

namespace TinyChat.Protocols.Irc;

/// <summary>
/// <c>CHATHISTORY LATEST|BEFORE|AFTER</c> (IRCv3 draft/chathistory) over the chat's history pages: references are
/// <c>*</c> or <c>msgid=</c> (the ids TinyChat puts in the <c>msgid</c> tag), a page is at most 200 messages, oldest
/// first, in a <c>chathistory</c> batch for clients that enabled <c>batch</c>.
/// </summary>
public sealed partial class IrcSession
{
    private int batches;

    private async ValueTask HistoryAsync(IrcLine line, ChatClient chat, CancellationToken cancellationToken)
    {
        if (line.Parameters.Count < 4)
        {
            Send(Fail("NEED_MORE_PARAMS", line[0] ?? "*", "Missing parameters"));
            return;
        }

        var sub = line[0]!.ToUpperInvariant();
        var target = line[1]!;
        if (sub is not ("LATEST" or "BEFORE" or "AFTER"))
        {
            Send(Fail("INVALID_PARAMS", sub, "Only LATEST, BEFORE and AFTER are supported"));
            return;
        }

        if (!int.TryParse(line[3], NumberStyles.None, CultureInfo.InvariantCulture, out var limit) || limit < 1)
        {
            Send(Fail("INVALID_PARAMS", sub, "Invalid limit"));
            return;
        }

        long? reference = null;
        if (line[2] != "*")
        {
            var id = line[2]!.StartsWith("msgid=", StringComparison.Ordinal) ? line[2]![(line[2]!.LastIndexOf(':') + 1)..] : null;
            if (id is null || !long.TryParse(id, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
            {
                Send(Fail("INVALID_MSGREFTYPE", sub, "Only msgid references (or *) are supported"));
                return;
            }

            reference = parsed;
        }
        else if (sub != "LATEST")
        {
            Send(Fail("INVALID_PARAMS", sub, "BEFORE and AFTER need a msgid reference"));
            return;
        }

        var query = new HistoryQuery(sub == "BEFORE" ? reference : null, sub != "BEFORE" ? reference : null, Math.Min(limit, ChatClient.MaxHistoryLimit));
        IReadOnlyList<ChatEvent> page;
        string shownTarget;
        if (IrcChannels.IsChannel(target))
        {
            var room = IrcChannels.RoomOf(target) is { } wanted ? await ResolveRoomAsync(wanted, cancellationToken).ConfigureAwait(false) : null;
            var history = room is null ? ChatError.RoomNotFound(target) : await chat.RoomHistoryAsync(room, query, cancellationToken).ConfigureAwait(false);
            if (history.Error is not null)
            {
                Send(Fail("INVALID_TARGET", sub, target, "No history for that target"));
                return;
            }

            page = history.Value!;
            shownTarget = IrcChannels.ChannelOf(room!);
        }
        else
        {
            var nick = door.Users.Canonical(target);
            var history = await chat.PrivateHistoryAsync(nick, query, cancellationToken).ConfigureAwait(false);
            if (history.Error is not null)
            {
                Send(Fail("INVALID_TARGET", sub, target, "No history for that target"));
                return;
            }

            page = history.Value!;
            shownTarget = nick;
        }

        Send(Batch(shownTarget, page));
    }

    private string Batch(string target, IReadOnlyList<ChatEvent> page)
    {
        var encoder = capabilities.WantsTags ? door.Tagged : door.Plain;
        var batched = capabilities.Has("batch");
        var id = $"h{Interlocked.Increment(ref batches)}";
        var lines = new StringBuilder();
        if (batched)
        {
            lines.Append($":{replies.ServerName} BATCH +{id} chathistory {target}\r\n");
        }

        foreach (var message in page)
        {
            foreach (var text in Encoding.UTF8.GetString(encoder.Encode(message).Span).Split("\r\n", StringSplitOptions.RemoveEmptyEntries))
            {
                lines.Append(!batched ? text : text.StartsWith('@') ? $"@batch={id};{text[1..]}" : $"@batch={id} {text}").Append("\r\n");
            }
        }

        if (batched)
        {
            lines.Append($":{replies.ServerName} BATCH -{id}\r\n");
        }

        return lines.ToString();
    }

    private string Fail(string code, params ReadOnlySpan<string> context)
    {
        var parameters = new string[context.Length + 2];
        parameters[0] = "CHATHISTORY";
        parameters[1] = code;
        context.CopyTo(parameters.AsSpan(2));
        return IrcFormat.Line(replies.ServerName, "FAIL", parameters);
    }
}
