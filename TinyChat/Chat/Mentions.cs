namespace TinyChat.Chat;

/// <summary>
/// <c>@username</c> in a message's text: an <c>@</c> at the start or after anything but a name character (so
/// <c>mail@example.com</c> mentions nobody), followed by a user name. Decided once, in the core, whatever the
/// front door the message came through.
/// </summary>
public static class Mentions
{
    /// <summary>At most this many users are notified by one message; the rest of its <c>@names</c> are ignored.</summary>
    public const int MaxPerMessage = 20;

    /// <summary>The distinct user names the text mentions, in order of first appearance (at most <see cref="MaxPerMessage"/>).</summary>
    public static IReadOnlyList<string> In(string text)
    {
        List<string>? found = null;
        var at = text.IndexOf('@', StringComparison.Ordinal);
        while (at >= 0 && (found?.Count ?? 0) < MaxPerMessage)
        {
            var end = at + 1;
            while (end < text.Length && end - at - 1 < 33 && IsNameChar(text[end]))
            {
                end++;
            }

            var length = end - at - 1;
            if (length is >= 1 and <= 32 && (at == 0 || !(IsNameChar(text[at - 1]) || text[at - 1] == '.')) && (end == text.Length || !IsNameChar(text[end])))
            {
                var name = text.Substring(at + 1, length);
                found ??= [];
                if (!found.Contains(name, StringComparer.Ordinal))
                {
                    found.Add(name);
                }
            }

            at = end < text.Length ? text.IndexOf('@', end) : -1;
        }

        return found ?? (IReadOnlyList<string>)[];
    }

    private static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_' || c == '-';
}
