using Microsoft.Extensions.Logging.Abstractions;
using TinyChat.Storage;
using TinyChat.Storage.Postgres;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Contracts;

/// <summary>The store contract on the PostgreSQL store: the shared test server, an empty database per test.</summary>
[Category("Postgres")]
public sealed class PostgresStoreContractTests : StoreContract
{
    private readonly List<PostgresStore> opened = [];
    private string connectionString = null!;

    /// <inheritdoc />
    protected override async Task<Stores> OpenAsync()
    {
        var server = await PostgresServer.SharedAsync();
        connectionString = await server.CreateDatabaseAsync();
        return await OpenStoreAsync();
    }

    /// <inheritdoc />
    protected override Task<Stores> OpenSecondAsync() => OpenStoreAsync();

    /// <inheritdoc />
    protected override async Task CloseAsync()
    {
        foreach (var store in opened)
        {
            await store.CloseAsync(CancellationToken.None);
        }

        opened.Clear();
    }

    private async Task<Stores> OpenStoreAsync()
    {
        var store = new PostgresStore(new PostgresStoreSettings(connectionString, RetentionPolicy.Unlimited), TimeProvider.System, NullLogger<PostgresStore>.Instance);
        opened.Add(store);
        await store.OpenAsync(CancellationToken.None);
        return new Stores(store, store, store);
    }
}
