using TinyChat.Chat;

namespace TinyChat.Tests.Support;

/// <summary>
/// A message store that passes every call to another one: tests derive from it to change one call (fail on a text,
/// hold a commit) and keep the rest real.
/// </summary>
public abstract class ForwardingMessageStore(IMessageStore inner) : IMessageStore
{
    public virtual ValueTask<long> LastRoomIdAsync(string room, CancellationToken cancellationToken) => inner.LastRoomIdAsync(room, cancellationToken);

    public virtual ValueTask<long> AppendRoomMessagesAsync(string room, IReadOnlyList<NewRoomMessage> messages, CancellationToken cancellationToken) =>
        inner.AppendRoomMessagesAsync(room, messages, cancellationToken);

    public virtual ValueTask<Task<long>> QueueRoomBatchAsync(string room, RoomBatch batch, Task<long>? after, CancellationToken cancellationToken) =>
        inner.QueueRoomBatchAsync(room, batch, after, cancellationToken);

    public virtual ValueTask<long> AppendPrivateMessageAsync(string from, string to, string text, DateTimeOffset timestamp, CancellationToken cancellationToken) =>
        inner.AppendPrivateMessageAsync(from, to, text, timestamp, cancellationToken);

    public virtual ValueTask<RoomMessage?> FindRoomMessageAsync(string room, long id, CancellationToken cancellationToken) =>
        inner.FindRoomMessageAsync(room, id, cancellationToken);

    public virtual ValueTask<IReadOnlyList<RoomMessage>> RoomHistoryAsync(string room, HistoryQuery query, CancellationToken cancellationToken) =>
        inner.RoomHistoryAsync(room, query, cancellationToken);

    public virtual ValueTask<IReadOnlyList<PrivateMessage>> PrivateHistoryAsync(string user, string other, HistoryQuery query, CancellationToken cancellationToken) =>
        inner.PrivateHistoryAsync(user, other, query, cancellationToken);

    public virtual ValueTask<long> LastPrivateIdAsync(CancellationToken cancellationToken) => inner.LastPrivateIdAsync(cancellationToken);

    public virtual ValueTask<IReadOnlyList<PrivateMessage>> PrivateMessagesOfAsync(string user, long after, int limit, CancellationToken cancellationToken) =>
        inner.PrivateMessagesOfAsync(user, after, limit, cancellationToken);
}

/// <summary>
/// A message store that fails to store any batch holding the text "poison": a stand-in for a bug that one client's
/// input triggers, so a room loop crashes on demand.
/// </summary>
public sealed class PoisonedStore(IMessageStore inner) : ForwardingMessageStore(inner)
{
    public override ValueTask<long> AppendRoomMessagesAsync(string room, IReadOnlyList<NewRoomMessage> messages, CancellationToken cancellationToken) =>
        Poisoned(messages) ? throw new InvalidOperationException("poisoned") : base.AppendRoomMessagesAsync(room, messages, cancellationToken);

    public override ValueTask<Task<long>> QueueRoomBatchAsync(string room, RoomBatch batch, Task<long>? after, CancellationToken cancellationToken) =>
        ValueTask.FromResult(StoreUnlessPoisonedAsync(room, batch, after, cancellationToken));

    // As a store without a queue of its own does: the batch is closed and written (or fails) in its turn, after the
    // room's batch before it, so a poisoned post added while it was open fails it too.
    private async Task<long> StoreUnlessPoisonedAsync(string room, RoomBatch batch, Task<long>? after, CancellationToken cancellationToken)
    {
        if (after is not null)
        {
            await after;
        }

        return await AppendRoomMessagesAsync(room, batch.Close(), cancellationToken);
    }

    private static bool Poisoned(IReadOnlyList<NewRoomMessage> messages) => messages.Any(m => m.Text == "poison");
}
