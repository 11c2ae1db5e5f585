namespace TinyChat.Chat;

/// <summary>The <c>Presence</c> section: how rooms announce who is online.</summary>
public sealed class PresenceOptions
{
    /// <summary>
    /// After announcing a presence change a room gathers the next ones for this long and announces them together
    /// (0: every change at once). The first change in a quiet room goes at once.
    /// </summary>
    public int TickMilliseconds { get; set; } = 200;

    /// <summary>
    /// In a room that announces how many instead of who, the gathering lasts at least this long (the longer of the
    /// two ticks): every announcement there goes to every member online, so a crowd coming and going costs each
    /// member one frame per this interval.
    /// </summary>
    public int CountTickMilliseconds { get; set; } = 2000;

    /// <summary>Rooms with more members online than this announce how many instead of who, and <c>who</c> pages the names.</summary>
    public int FullStateMaxMembers { get; set; } = 200;
}
