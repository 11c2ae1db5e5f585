using TinyChat.Chat;

namespace TinyChat.Protocols.Irc;

/// <summary>The mapping between IRC names and chat names: <c>#room</c> is the room <c>room</c>, a nick is a user name.</summary>
public static class IrcChannels
{
    /// <summary>The only channel type.</summary>
    public const char Prefix = '#';

    /// <summary>The channel name of a room.</summary>
    public static string ChannelOf(string room) => Prefix + room;

    /// <summary>The room a channel name stands for, or null when it is not a channel (no '#') or not a valid room name.</summary>
    public static string? RoomOf(string channel) =>
        channel.Length > 1 && channel[0] == Prefix && ChatNames.CheckRoomName(channel[1..]) is null ? channel[1..] : null;

    /// <summary>Whether a target names a channel (starts with '#'), valid or not.</summary>
    public static bool IsChannel(string target) => target.Length > 0 && target[0] == Prefix;

    /// <summary>IRC compares names case-insensitively (ASCII casemapping).</summary>
    public static bool SameName(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);

    /// <summary>Simple IRC masks: <c>*</c> and <c>?</c> wildcards, case-insensitive.</summary>
    public static bool Matches(string mask, string value)
    {
        return Match(mask.AsSpan(), value.AsSpan());

        static bool Match(ReadOnlySpan<char> mask, ReadOnlySpan<char> value)
        {
            while (!mask.IsEmpty)
            {
                if (mask[0] == '*')
                {
                    mask = mask[1..];
                    for (var i = 0; i <= value.Length; i++)
                    {
                        if (Match(mask, value[i..]))
                        {
                            return true;
                        }
                    }

                    return false;
                }

                if (value.IsEmpty || (mask[0] != '?' && char.ToLowerInvariant(mask[0]) != char.ToLowerInvariant(value[0])))
                {
                    return false;
                }

                mask = mask[1..];
                value = value[1..];
            }

            return value.IsEmpty;
        }
    }
}
