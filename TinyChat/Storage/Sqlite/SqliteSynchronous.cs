namespace TinyChat.Storage.Sqlite;

/// <summary>
/// SQLite's <c>synchronous</c> setting in WAL mode: what a commit waits for before it counts as durable.
/// </summary>
public enum SqliteSynchronous
{
    /// <summary>Commits reach the OS, not the disk: they survive a killed process, not a power loss or kernel crash.</summary>
    Normal,

    /// <summary>Every commit is fsync'ed to the disk: it survives a power loss too. One fsync per group commit.</summary>
    Full,
}
