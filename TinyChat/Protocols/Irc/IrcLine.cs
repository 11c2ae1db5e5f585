namespace TinyChat.Protocols.Irc;

/// <summary>
/// One parsed client line (RFC 1459 framing with IRCv3 message tags): <c>[@tags] [:source] COMMAND params [:trailing]</c>.
/// The command is upper-cased; the source a client sends is ignored, as servers do.
/// </summary>
public sealed class IrcLine
{
    private static readonly IReadOnlyDictionary<string, string> NoTags = new Dictionary<string, string>();

    private IrcLine(string command, IReadOnlyList<string> parameters, IReadOnlyDictionary<string, string> tags)
    {
        Command = command;
        Parameters = parameters;
        Tags = tags;
    }

    /// <summary>The command, upper case (a numeric stays as sent).</summary>
    public string Command { get; }

    /// <summary>The parameters; the trailing one (after " :") may contain spaces and may be empty.</summary>
    public IReadOnlyList<string> Parameters { get; }

    /// <summary>The message tags, unescaped; a tag without value maps to "".</summary>
    public IReadOnlyDictionary<string, string> Tags { get; }

    /// <summary>The parameter at <paramref name="index"/>, or null.</summary>
    public string? this[int index] => index < Parameters.Count ? Parameters[index] : null;

    /// <summary>Parses a line without its CR LF; null when it holds no command (empty or only tags and source).</summary>
    public static IrcLine? Parse(string line)
    {
        var rest = line.AsSpan();
        var tags = NoTags;
        if (rest.StartsWith("@"))
        {
            var end = rest.IndexOf(' ');
            if (end < 0)
            {
                return null;
            }

            tags = ParseTags(rest[1..end]);
            rest = rest[end..].TrimStart(' ');
        }

        if (rest.StartsWith(":"))
        {
            var end = rest.IndexOf(' ');
            if (end < 0)
            {
                return null;
            }

            rest = rest[end..].TrimStart(' ');
        }

        var parameters = new List<string>();
        string? command = null;
        while (!rest.IsEmpty)
        {
            if (command is not null && rest[0] == ':')
            {
                parameters.Add(rest[1..].ToString());
                break;
            }

            var end = rest.IndexOf(' ');
            var word = end < 0 ? rest : rest[..end];
            if (command is null)
            {
                command = word.ToString().ToUpperInvariant();
            }
            else
            {
                parameters.Add(word.ToString());
            }

            rest = end < 0 ? [] : rest[end..].TrimStart(' ');
        }

        return command is null ? null : new IrcLine(command, parameters, tags);
    }

    private static Dictionary<string, string> ParseTags(ReadOnlySpan<char> text)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var range in text.Split(';'))
        {
            var tag = text[range];
            if (tag.IsEmpty)
            {
                continue;
            }

            var equals = tag.IndexOf('=');
            var key = (equals < 0 ? tag : tag[..equals]).ToString();
            tags[key] = equals < 0 ? "" : Unescape(tag[(equals + 1)..]);
        }

        return tags;
    }

    private static string Unescape(ReadOnlySpan<char> value)
    {
        if (value.IndexOf('\\') < 0)
        {
            return value.ToString();
        }

        var text = new System.Text.StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] != '\\')
            {
                text.Append(value[i]);
                continue;
            }

            if (++i == value.Length)
            {
                break;
            }

            text.Append(value[i] switch
            {
                ':' => ';',
                's' => ' ',
                'r' => '\r',
                'n' => '\n',
                var other => other,
            });
        }

        return text.ToString();
    }
}
