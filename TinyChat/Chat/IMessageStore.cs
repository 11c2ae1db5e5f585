namespace TinyChat.Chat;

/// <summary>A room message to make durable; its sequence number was assigned by the room.</summary>
public sealed record RoomMessageRecord(string Room, long Id, string From, string Text, DateTimeOffset Timestamp);

/// <summary>Which slice of a history to read: before or after an id (exclusive), at most <see cref="Limit"/> messages.</summary>
public sealed record HistoryQuery(long? Before, long? After, int Limit);

/// <summary>Message history. Appends return only once the messages are durable.</summary>
public interface IMessageStore
{
    /// <summary>Highest sequence number stored for the room (0 when none).</summary>
    ValueTask<long> LastRoomIdAsync(string room, CancellationToken cancellationToken);

    /// <summary>Makes room messages durable (one commit for the batch; implementations may group concurrent batches).</summary>
    ValueTask AppendRoomMessagesAsync(IReadOnlyList<RoomMessageRecord> messages, CancellationToken cancellationToken);

    /// <summary>Makes a private message durable and returns its id (increasing server-wide).</summary>
    ValueTask<long> AppendPrivateMessageAsync(string from, string to, string text, DateTimeOffset timestamp, CancellationToken cancellationToken);

    /// <summary>A slice of a room's history, oldest first.</summary>
    ValueTask<IReadOnlyList<RoomMessage>> RoomHistoryAsync(string room, HistoryQuery query, CancellationToken cancellationToken);

    /// <summary>A slice of the private conversation of two users, oldest first.</summary>
    ValueTask<IReadOnlyList<PrivateMessage>> PrivateHistoryAsync(string user, string other, HistoryQuery query, CancellationToken cancellationToken);
}
