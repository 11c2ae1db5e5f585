using TinyChat.Chat;

namespace TinyChat.Tests.Contracts;

/// <summary>The bus contract on the single-node bus.</summary>
public sealed class InProcessChatBusContractTests : ChatBusContract
{
    /// <inheritdoc />
    protected override IChatBus NewBus() => new InProcessChatBus();
}
