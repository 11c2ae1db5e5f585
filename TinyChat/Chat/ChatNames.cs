namespace TinyChat.Chat;

/// <summary>The rules for room and user names.</summary>
public static class ChatNames
{
    /// <summary>The room that always exists.</summary>
    public const string DefaultRoom = "default";

    /// <summary>Why a room name is refused, or null when it is valid (1–64 of letters, digits, <c>_ - .</c>).</summary>
    public static string? CheckRoomName(string? name) => Check(name, 64, allowDot: true, "room name");

    /// <summary>Why a user name is refused, or null when it is valid (1–32 of letters, digits, <c>_ -</c>).</summary>
    public static string? CheckUserName(string? name) => Check(name, 32, allowDot: false, "user name");

    private static string? Check(string? name, int max, bool allowDot, string what)
    {
        if (string.IsNullOrEmpty(name))
        {
            return $"a {what} must not be empty";
        }

        if (name.Length > max)
        {
            return $"a {what} has at most {max} characters";
        }

        foreach (var c in name)
        {
            // ASCII only: look-alike Unicode letters would let two names read the same.
            var ok = char.IsAsciiLetterOrDigit(c) || c == '_' || c == '-' || (allowDot && c == '.');
            if (!ok)
            {
                return allowDot
                    ? $"a {what} may contain only letters, digits, '_', '-' and '.'"
                    : $"a {what} may contain only letters, digits, '_' and '-'";
            }
        }

        return null;
    }
}
