namespace TinyChat.Runtime;

/// <summary>The <c>Runtime</c> section: mailboxes and supervision.</summary>
public sealed class RuntimeOptions
{
    /// <summary>Mailbox capacity of each room process.</summary>
    public int RoomMailboxCapacity { get; set; } = 4096;

    /// <summary>Mailbox capacity of each user session process.</summary>
    public int SessionMailboxCapacity { get; set; } = 256;

    /// <summary>Restart intensity: at most this many restarts ...</summary>
    public int MaxRestarts { get; set; } = 10;

    /// <summary>... within this many seconds, else the supervisor escalates.</summary>
    public double RestartWindowSeconds { get; set; } = 10;
}
