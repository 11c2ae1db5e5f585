namespace TinyChat.Storage;

/// <summary>The <c>Storage</c> section: where accounts, rooms and history live and how long history is kept.</summary>
public sealed class StorageOptions
{
    /// <summary>The SQLite provider's name (the default).</summary>
    public const string Sqlite = "sqlite";

    /// <summary>The in-memory provider's name: nothing survives a restart (tests, demos).</summary>
    public const string Memory = "memory";

    /// <summary>The PostgreSQL provider's name: one database that any number of nodes may share.</summary>
    public const string Postgres = "postgres";

    /// <summary>Whether a provider name means SQLite (names are case-insensitive).</summary>
    public static bool IsSqlite(string? provider) => string.Equals(provider, Sqlite, StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether a provider name means in-memory.</summary>
    public static bool IsMemory(string? provider) => string.Equals(provider, Memory, StringComparison.OrdinalIgnoreCase);

    /// <summary>Whether a provider name means PostgreSQL.</summary>
    public static bool IsPostgres(string? provider) => string.Equals(provider, Postgres, StringComparison.OrdinalIgnoreCase);

    /// <summary><c>sqlite</c>, <c>postgres</c> or <c>memory</c>.</summary>
    public string Provider { get; set; } = Sqlite;

    /// <summary>
    /// The PostgreSQL provider's Npgsql connection string (<c>Host=...;Port=...;Database=...;Username=...;Password=...</c>).
    /// A secret: set it with the environment variable <c>TINYCHAT__Storage__ConnectionString</c> rather than in the
    /// file; it is never logged (only host, port and database are).
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>SQLite: folder of the database file (tinychat.db), relative to the configuration file's folder unless absolute; created on first start.</summary>
    public string DataDirectory { get; set; } = "data";

    /// <summary>Messages kept per room; older ones are pruned in the background. 0 = unlimited.</summary>
    public int MaxMessagesPerRoom { get; set; }

    /// <summary>Days a message (room or private) is kept; older ones are pruned in the background. 0 = unlimited.</summary>
    public int MaxMessageAgeDays { get; set; }

    /// <summary>
    /// SQLite only. <c>Full</c> (default): a message is on the disk before it is acknowledged, and survives a power loss.
    /// <c>Normal</c>: it survives a killed process but not a power loss; commits skip the fsync.
    /// </summary>
    public string Synchronous { get; set; } = "Full";
}
