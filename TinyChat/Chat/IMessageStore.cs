namespace TinyChat.Chat;

/// <summary>
/// A room message or room event to make durable; the store gives it its sequence number. An event
/// (<see cref="Kind"/> set, see <see cref="RoomEventKind"/>) is applied in the same transaction that stores it:
/// an edit replaces its message's text, a delete leaves a tombstone, a ban records the ban and ends the membership.
/// </summary>
public sealed record NewRoomMessage(string From, string Text, DateTimeOffset Timestamp)
{
    /// <summary>Null for a chat message, else the <see cref="RoomEventKind"/>.</summary>
    public string? Kind { get; init; }

    /// <summary>The user the event is about.</summary>
    public string? Target { get; init; }

    /// <summary>The message an edit or delete refers to.</summary>
    public long? RefersTo { get; init; }

    /// <summary>When a mute ends.</summary>
    public DateTimeOffset? Until { get; init; }

    /// <summary>Users a chat message mentions who may read the room (decided by the room); stored with the message.</summary>
    public IReadOnlyList<string> Mentions { get; init; } = [];

    /// <summary>The event as the room's members see it once it has its id.</summary>
    public RoomMessage ToEvent(string room, long id) => new(room, From, Text, id, Timestamp)
    {
        Kind = Kind,
        Target = Target,
        RefersTo = RefersTo,
        Until = Until,
    };
}

/// <summary>Which slice of a history to read: before or after an id (exclusive), at most <see cref="Limit"/> messages.</summary>
public sealed record HistoryQuery(long? Before, long? After, int Limit);

/// <summary>Message history. Appends return only once the messages are durable.</summary>
public interface IMessageStore
{
    /// <summary>Highest sequence number stored for the room (0 when none).</summary>
    ValueTask<long> LastRoomIdAsync(string room, CancellationToken cancellationToken);

    /// <summary>
    /// Makes a batch of one room's messages durable and returns the sequence number of the first; the others
    /// follow it without a gap, in list order. The numbers are assigned inside the transaction that inserts the
    /// messages, so any number of appenders (room loops, nodes) may share a room: per room they never repeat,
    /// never go backwards and leave no gap. Fails (and stores nothing) when the room does not exist.
    /// </summary>
    /// <remarks>Implementations may commit concurrent batches in one transaction (group commit).</remarks>
    ValueTask<long> AppendRoomMessagesAsync(string room, IReadOnlyList<NewRoomMessage> messages, CancellationToken cancellationToken);

    /// <summary>
    /// Hands a room's batch to the store behind <paramref name="after"/> — the task this store returned for the same
    /// room's previous batch, which may still be being written — and returns once the batch has its place; the
    /// returned task then completes as <see cref="AppendRoomMessagesAsync"/> would for what the batch held when the
    /// store closed it (<see cref="RoomBatch.Close"/>), which it does when it starts writing it: until then the room may
    /// add to it. The batch commits only after <paramref name="after"/> did, so its numbers are higher, and only if
    /// <paramref name="after"/> committed: when that failed, this batch is never stored and fails with the same
    /// exception. This is what lets a room form its next batch while the previous one is written without giving up
    /// its order.
    /// </summary>
    /// <remarks>
    /// The default waits for <paramref name="after"/>, then closes the batch and appends it: right for any store, with
    /// no overlap of the two writes. A store that writes through one ordered queue (SQLite's writer) queues the batch
    /// at once instead and closes it when the writer reaches it. The returned task may complete on the store's own
    /// thread (SQLite's writer resumes the room there right after the commit): whoever awaits it hands the batch on
    /// without blocking and leaves that thread.
    /// </remarks>
    ValueTask<Task<long>> QueueRoomBatchAsync(string room, RoomBatch batch, Task<long>? after, CancellationToken cancellationToken) =>
        ValueTask.FromResult(AppendAfterAsync(this, room, batch, after, cancellationToken));

    private static async Task<long> AppendAfterAsync(IMessageStore store, string room, RoomBatch batch, Task<long>? after, CancellationToken cancellationToken)
    {
        if (after is not null)
        {
            try
            {
                // Rethrows the previous batch's failure: nothing of this one is stored.
                await after.ConfigureAwait(false);
            }
            catch (Exception)
            {
                batch.Close();
                throw;
            }
        }

        return await store.AppendRoomMessagesAsync(room, batch.Close(), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Makes a private message durable and returns its id (increasing server-wide).</summary>
    ValueTask<long> AppendPrivateMessageAsync(string from, string to, string text, DateTimeOffset timestamp, CancellationToken cancellationToken);

    /// <summary>One stored message of a room (as history shows it: edited text, or a tombstone), or null.</summary>
    /// <remarks>The default reads the one-message page before <c>id + 1</c>; stores look it up by key.</remarks>
    async ValueTask<RoomMessage?> FindRoomMessageAsync(string room, long id, CancellationToken cancellationToken)
    {
        var page = await RoomHistoryAsync(room, new HistoryQuery(id + 1, null, 1), cancellationToken).ConfigureAwait(false);
        return page.Count == 1 && page[0].Id == id ? page[0] : null;
    }

    /// <summary>A slice of a room's history, oldest first: messages as they read now (edited, or tombstones) and events.</summary>
    ValueTask<IReadOnlyList<RoomMessage>> RoomHistoryAsync(string room, HistoryQuery query, CancellationToken cancellationToken);

    /// <summary>A slice of the private conversation of two users, oldest first.</summary>
    ValueTask<IReadOnlyList<PrivateMessage>> PrivateHistoryAsync(string user, string other, HistoryQuery query, CancellationToken cancellationToken);

    /// <summary>The highest private message id handed out so far, whoever the users (0 when none; never goes back, even after pruning).</summary>
    ValueTask<long> LastPrivateIdAsync(CancellationToken cancellationToken);

    /// <summary>
    /// Every private message the user sent or received with an id after <paramref name="after"/>, in all their
    /// conversations, oldest first, at most <paramref name="limit"/> (an event stream's catch-up).
    /// </summary>
    ValueTask<IReadOnlyList<PrivateMessage>> PrivateMessagesOfAsync(string user, long after, int limit, CancellationToken cancellationToken);
}
