namespace TinyChat.Storage.Sqlite;

/// <summary>Where the SQLite store keeps its file and how durable a commit is.</summary>
/// <param name="DatabasePath">Full path of the database file; its folder is created when missing.</param>
/// <param name="Synchronous">What a commit waits for.</param>
/// <param name="Retention">How much history pruning keeps.</param>
public sealed record SqliteStoreSettings(string DatabasePath, SqliteSynchronous Synchronous, RetentionPolicy Retention)
{
    /// <summary>The file's name inside the data directory.</summary>
    public const string FileName = "tinychat.db";
}
