using TinyChat.Chat;

namespace TinyChat.Storage;

/// <summary>
/// A store that keeps its data outside the process (a SQLite file, a PostgreSQL database): opened and migrated
/// before the chat starts, closed after it stopped, pruned in the background by the <see cref="RetentionLoop"/>.
/// </summary>
public interface IDurableStore : IAccountStore, IRoomStore, IMessageStore, IReadingStore, IStoreHealth
{
    /// <summary>Where the data is, safe to log: a file path, or host, port and database (never credentials).</summary>
    string Location { get; }

    /// <summary>What <see cref="PruneAsync"/> keeps.</summary>
    RetentionPolicy Retention { get; }

    /// <summary>Opens the store and brings its schema to the current version; a <see cref="StorageException"/> says why it cannot.</summary>
    Task OpenAsync(CancellationToken cancellationToken);

    /// <summary>Lets what was accepted commit, then releases the database. Idempotent.</summary>
    Task CloseAsync(CancellationToken cancellationToken);

    /// <summary>Deletes what the retention policy no longer keeps, in small transactions; returns how many messages.</summary>
    Task<int> PruneAsync(DateTimeOffset now, CancellationToken cancellationToken);
}
