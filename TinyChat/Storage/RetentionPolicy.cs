namespace TinyChat.Storage;

/// <summary>How much history to keep: at most <see cref="MaxMessagesPerRoom"/> per room and nothing older than <see cref="MaxAge"/> (zero = unlimited).</summary>
public sealed record RetentionPolicy(int MaxMessagesPerRoom, TimeSpan MaxAge)
{
    /// <summary>Keep everything.</summary>
    public static RetentionPolicy Unlimited { get; } = new(0, TimeSpan.Zero);

    /// <summary>Whether anything is ever pruned.</summary>
    public bool IsLimited => MaxMessagesPerRoom > 0 || MaxAge > TimeSpan.Zero;
}
