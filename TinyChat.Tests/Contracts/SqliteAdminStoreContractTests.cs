using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using TinyChat.Chat;
using TinyChat.Storage;
using TinyChat.Storage.Sqlite;

namespace TinyChat.Tests.Contracts;

/// <summary>The admin store contract on a SQLite file, one temporary folder per test.</summary>
public sealed class SqliteAdminStoreContractTests : AdminStoreContract
{
    private readonly string directory = Path.Combine(Path.GetTempPath(), "tinychat-tests", Guid.NewGuid().ToString("N"));
    private SqliteStore? server;

    private string DatabasePath => Path.Combine(directory, SqliteStoreSettings.FileName);

    /// <inheritdoc />
    protected override IAdminStore NewAdminStore() => new SqliteAdminStore(DatabasePath, Clock);

    /// <inheritdoc />
    protected override async Task<IDurableStore> OpenServerStoreAsync()
    {
        server = new SqliteStore(new SqliteStoreSettings(DatabasePath, SqliteSynchronous.Normal, RetentionPolicy.Unlimited), Clock, NullLogger<SqliteStore>.Instance);
        await server.OpenAsync(CancellationToken.None);
        return server;
    }

    /// <inheritdoc />
    protected override async Task CloseAsync()
    {
        if (server is not null)
        {
            await server.CloseAsync(CancellationToken.None);
        }

        SqliteConnection.ClearAllPools();
        if (Directory.Exists(directory))
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
