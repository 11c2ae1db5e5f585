using TinyChat.Storage.InMemory;

namespace TinyChat.Tests.Contracts;

/// <summary>The store contract on the in-memory store.</summary>
public sealed class InMemoryStoreContractTests : StoreContract
{
    /// <inheritdoc />
    protected override Task<Stores> OpenAsync()
    {
        var store = new InMemoryStore();
        return Task.FromResult(new Stores(store, store, store));
    }

    /// <inheritdoc />
    protected override Task CloseAsync() => Task.CompletedTask;
}
