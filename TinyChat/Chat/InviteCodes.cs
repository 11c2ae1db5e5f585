using System.Buffers.Text;
using System.Security.Cryptography;

namespace TinyChat.Chat;

/// <summary>Invite codes: 128 random bits, URL-safe, shown once when created; stored only as a hash.</summary>
public static class InviteCodes
{
    /// <summary>Characters of a code kept in clear, so an administrator can tell codes apart in a listing.</summary>
    public const int HintLength = 4;

    /// <summary>A fresh code.</summary>
    public static string New() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(16));

    /// <summary>The most uses one code may have.</summary>
    public const int MaxUses = 1_000_000;

    /// <summary>The longest a code may live.</summary>
    public static readonly TimeSpan MaxLifetime = TimeSpan.FromDays(3650);

    /// <summary>The first characters of a code, as listed.</summary>
    public static string Hint(string code) => code.Length <= HintLength ? code : code[..HintLength];

    /// <summary>
    /// A lifetime written as a whole number and a unit, <c>30m</c>, <c>12h</c> or <c>7d</c>; null (with why) when it is not
    /// one, not positive, or longer than <see cref="MaxLifetime"/>.
    /// </summary>
    public static TimeSpan? ParseLifetime(string? text, out string? why)
    {
        why = null;
        if (text is { Length: >= 2 } && long.TryParse(text.AsSpan(0, text.Length - 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var count) && count > 0)
        {
            TimeSpan? lifetime = text[^1] switch
            {
                'm' when count <= MaxLifetime.TotalMinutes => TimeSpan.FromMinutes(count),
                'h' when count <= MaxLifetime.TotalHours => TimeSpan.FromHours(count),
                'd' when count <= MaxLifetime.TotalDays => TimeSpan.FromDays(count),
                _ => null,
            };
            if (lifetime is not null)
            {
                return lifetime;
            }
        }

        why = $"a lifetime is a positive whole number of minutes, hours or days (30m, 12h, 7d), at most {MaxLifetime.TotalDays:0}d; got \"{text}\"";
        return null;
    }
}
