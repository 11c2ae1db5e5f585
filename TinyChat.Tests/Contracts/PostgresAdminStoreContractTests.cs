using Microsoft.Extensions.Logging.Abstractions;
using TinyChat.Chat;
using TinyChat.Storage;
using TinyChat.Storage.Postgres;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Contracts;

/// <summary>The admin store contract on PostgreSQL: the shared test server, an empty database per test.</summary>
[Category("Postgres")]
public sealed class PostgresAdminStoreContractTests : AdminStoreContract
{
    private readonly List<PostgresStore> opened = [];
    private string connectionString = null!;

    [SetUp]
    public async Task CreateDatabase() => connectionString = await (await PostgresServer.SharedAsync()).CreateDatabaseAsync();

    /// <inheritdoc />
    protected override IAdminStore NewAdminStore() => new PostgresAdminStore(NewStore(), Clock);

    /// <inheritdoc />
    protected override async Task<IDurableStore> OpenServerStoreAsync()
    {
        var store = NewStore();
        await store.OpenAsync(CancellationToken.None);
        return store;
    }

    /// <inheritdoc />
    protected override async Task CloseAsync()
    {
        foreach (var store in opened)
        {
            await store.CloseAsync(CancellationToken.None);
        }

        opened.Clear();
    }

    private PostgresStore NewStore()
    {
        var store = new PostgresStore(new PostgresStoreSettings(connectionString, RetentionPolicy.Unlimited), Clock, NullLogger<PostgresStore>.Instance);
        lock (opened)
        {
            opened.Add(store);
        }

        return store;
    }
}
