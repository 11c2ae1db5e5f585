using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using TinyChat.Storage;
using TinyChat.Storage.Sqlite;

namespace TinyChat.Tests.Contracts;

/// <summary>The store contract on the SQLite store, one temporary file per test.</summary>
public sealed class SqliteStoreContractTests : StoreContract
{
    private string directory = null!;
    private SqliteStore? store;

    /// <inheritdoc />
    protected override async Task<Stores> OpenAsync()
    {
        directory = Path.Combine(Path.GetTempPath(), "tinychat-tests", Guid.NewGuid().ToString("N"));
        var settings = new SqliteStoreSettings(Path.Combine(directory, SqliteStoreSettings.FileName), SqliteSynchronous.Normal, RetentionPolicy.Unlimited);
        store = new SqliteStore(settings, TimeProvider.System, NullLogger<SqliteStore>.Instance);
        await store.OpenAsync(CancellationToken.None);
        return new Stores(store, store, store);
    }

    /// <inheritdoc />
    protected override async Task CloseAsync()
    {
        if (store is not null)
        {
            await store.CloseAsync(CancellationToken.None);
        }

        SqliteConnection.ClearAllPools();
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
