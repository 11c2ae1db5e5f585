namespace TinyChat.Chat;

/// <summary>A room message to make durable; the store gives it its sequence number.</summary>
public sealed record NewRoomMessage(string From, string Text, DateTimeOffset Timestamp);

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

    /// <summary>Makes a private message durable and returns its id (increasing server-wide).</summary>
    ValueTask<long> AppendPrivateMessageAsync(string from, string to, string text, DateTimeOffset timestamp, CancellationToken cancellationToken);

    /// <summary>A slice of a room's history, oldest first.</summary>
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
