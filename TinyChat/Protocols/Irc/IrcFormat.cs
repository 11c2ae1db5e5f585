using System.Text;

namespace TinyChat.Protocols.Irc;

/// <summary>Formatting of outgoing IRC lines: parameters, the trailing parameter, and splitting text to fit a line.</summary>
public static class IrcFormat
{
    /// <summary>Longest line without tags, CR LF included (RFC 1459).</summary>
    public const int MaxLineBytes = 512;

    /// <summary>Longest tag data a client may send, without the '@' and the space after it (IRCv3 message-tags).</summary>
    public const int MaxClientTagBytes = 4094;

    /// <summary>
    /// One line with CR LF: <c>[:source] COMMAND p1 p2 :last</c>. The last parameter is always sent as trailing
    /// (with ':'), which every client accepts and which keeps empty or spaced values intact.
    /// </summary>
    public static string Line(string? source, string command, params ReadOnlySpan<string> parameters)
    {
        var line = new StringBuilder(64);
        if (source is not null)
        {
            line.Append(':').Append(source).Append(' ');
        }

        line.Append(command);
        for (var i = 0; i < parameters.Length; i++)
        {
            line.Append(i == parameters.Length - 1 ? " :" : " ").Append(Clean(parameters[i]));
        }

        return line.Append("\r\n").ToString();
    }

    /// <summary>A line whose middle parameters are given as they go on the wire, plus a trailing parameter.</summary>
    public static string Raw(string? source, string commandAndMiddle, string trailing) =>
        source is null ? $"{commandAndMiddle} :{Clean(trailing)}\r\n" : $":{source} {commandAndMiddle} :{Clean(trailing)}\r\n";

    /// <summary>
    /// Splits a chat text into pieces that each fit one line after <paramref name="head"/> (everything before the
    /// text, e.g. <c>:nick!user@host PRIVMSG #room :</c>): line breaks start a new piece, long lines are cut at
    /// character boundaries, never dropped.
    /// </summary>
    public static List<string> SplitText(string head, string text)
    {
        var room = MaxLineBytes - 2 - Encoding.UTF8.GetByteCount(head);
        room = Math.Max(room, 16);
        var pieces = new List<string>();
        foreach (var raw in text.Split('\n'))
        {
            var part = raw.TrimEnd('\r').Replace('\r', ' ').Replace('\0', ' ');
            if (part.Length == 0)
            {
                // An empty line of a multi-line text becomes a space: an empty PRIVMSG is not valid.
                if (text.Length > 0 && pieces.Count < 1000)
                {
                    pieces.Add(" ");
                }

                continue;
            }

            var start = 0;
            while (start < part.Length)
            {
                var bytes = 0;
                var end = start;
                while (end < part.Length)
                {
                    var width = char.IsHighSurrogate(part[end]) && end + 1 < part.Length ? 2 : 1;
                    var size = Encoding.UTF8.GetByteCount(part.AsSpan(end, width));
                    if (bytes + size > room)
                    {
                        break;
                    }

                    bytes += size;
                    end += width;
                }

                pieces.Add(part[start..end]);
                start = end;
            }
        }

        return pieces;
    }

    /// <summary>Server time for the <c>time</c> tag: ISO 8601 UTC with milliseconds.</summary>
    public static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss.fff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    // A parameter never carries a line break: it would end the line and start a command of the peer's choosing.
    private static string Clean(string value) =>
        value.AsSpan().IndexOfAny('\r', '\n', '\0') < 0 ? value : value.Replace('\r', ' ').Replace('\n', ' ').Replace('\0', ' ');
}
