using NSubstitute;
using TinyChat.Chat;

namespace TinyChat.Tests.Support;

/// <summary>What a substitute <see cref="IMessageStore"/> needs to behave like a store that has no ordered queue.</summary>
internal static class MessageStoreSubstitutes
{
    /// <summary>
    /// A substitute answers a default interface method itself (with nothing); this makes its
    /// <see cref="IMessageStore.QueueRoomBatchAsync"/> do what the interface's default does: wait for the batch
    /// before, then close the batch and call the substitute's <see cref="IMessageStore.AppendRoomMessagesAsync"/>.
    /// </summary>
    public static IMessageStore QueuingThroughAppend(this IMessageStore messages)
    {
        messages.QueueRoomBatchAsync(default!, default!, default, default).ReturnsForAnyArgs(call =>
            ValueTask.FromResult(AppendAfterAsync(messages, call.ArgAt<string>(0), call.ArgAt<RoomBatch>(1), call.ArgAt<Task<long>?>(2), call.ArgAt<CancellationToken>(3))));
        return messages;
    }

    private static async Task<long> AppendAfterAsync(IMessageStore messages, string room, RoomBatch batch, Task<long>? after, CancellationToken cancellationToken)
    {
        if (after is not null)
        {
            await after;
        }

        return await messages.AppendRoomMessagesAsync(room, batch.Close(), cancellationToken);
    }
}
