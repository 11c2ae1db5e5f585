namespace TinyChat.Runtime;

/// <summary>The <c>Runtime</c> section: mailboxes and supervision.</summary>
public sealed class RuntimeOptions
{
    /// <summary>Mailbox capacity of each room process.</summary>
    public int RoomMailboxCapacity { get; set; } = 4096;

    /// <summary>
    /// Batches a room may have at the store at once: 1 waits for each commit before forming the next batch (the
    /// largest batches: measured best on a CPU-bound machine), 2 hands the next batch over while the previous one
    /// is written (pipelined: for a store whose commits wait on the disk while the CPU is idle).
    /// </summary>
    public int RoomCommitsInFlight { get; set; } = 1;

    /// <summary>Mailbox capacity of each user session process.</summary>
    public int SessionMailboxCapacity { get; set; } = 256;

    /// <summary>Restart intensity: at most this many restarts ...</summary>
    public int MaxRestarts { get; set; } = 10;

    /// <summary>... within this many seconds, else the supervisor escalates.</summary>
    public double RestartWindowSeconds { get; set; } = 10;

    /// <summary>A room's loop with no member online on this node and no command for this long retires; the next use starts it again from the store (0 = never).</summary>
    public double IdleRoomSeconds { get; set; } = 300;

    /// <summary>After a sweep retires at least this many rooms, the server compacts the managed heap and gives the memory back to the system (0 = never).</summary>
    public int CompactAfterRetiring { get; set; } = 1000;
}
