namespace TinyChat.Storage;

/// <summary>The <c>Storage</c> section: where accounts, rooms and history live and how long history is kept.</summary>
public sealed class StorageOptions
{
    /// <summary>The SQLite provider's name (the default).</summary>
    public const string Sqlite = "sqlite";

    /// <summary>The in-memory provider's name: nothing survives a restart (tests, demos).</summary>
    public const string Memory = "memory";

    /// <summary>Whether a provider name means SQLite (names are case-insensitive).</summary>
    public static bool IsSqlite(string? provider) => string.Equals(provider, Sqlite, StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether a provider name means in-memory.</summary>
    public static bool IsMemory(string? provider) => string.Equals(provider, Memory, StringComparison.OrdinalIgnoreCase);

    /// <summary><c>sqlite</c> or <c>memory</c>.</summary>
    public string Provider { get; set; } = Sqlite;

    /// <summary>Folder of the database file (tinychat.db), relative to the configuration file's folder unless absolute; created on first start.</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>Messages kept per room; older ones are pruned in the background. 0 = unlimited.</summary>
    public int MaxMessagesPerRoom { get; set; }

    /// <summary>Days a message (room or private) is kept; older ones are pruned in the background. 0 = unlimited.</summary>
    public int MaxMessageAgeDays { get; set; }

    /// <summary>
    /// <c>Full</c> (default): a message is on the disk before it is acknowledged, and survives a power loss.
    /// <c>Normal</c>: it survives a killed process but not a power loss; commits skip the fsync.
    /// </summary>
    public string Synchronous { get; set; } = "Full";
}
