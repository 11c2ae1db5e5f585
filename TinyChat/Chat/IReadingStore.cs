namespace TinyChat.Chat;

/// <summary>Where a user stands in one room: the last message read, and what came after it (counts capped).</summary>
public sealed record RoomReadState(string Room, long LastRead, int Unread, int Mentions);

/// <summary>One private conversation of a user: the other user, its newest message, what the user read of it.</summary>
public sealed record ConversationState(string With, long LastId, DateTimeOffset LastAt, long LastRead, int Unread);

/// <summary>A room message a search found; <see cref="Key"/> orders hits (higher is newer) and pages them.</summary>
public sealed record RoomSearchHit(long Key, RoomMessage Message);

/// <summary>A private message a search found; its id orders and pages the hits.</summary>
public sealed record PrivateSearchHit(PrivateMessage Message);

/// <summary>
/// Reading state and search: read positions (monotonic), mention and unread counts, the user's private
/// conversations, and full-text search. The core decides who may read what and passes only that (the rooms a user
/// is a member of); the store answers from indexes and never scans a whole table.
/// </summary>
public interface IReadingStore
{
    /// <summary>Counts stop here: a badge shows "999+" rather than the store counting a year of history.</summary>
    public const int CountCap = 1000;

    /// <summary>
    /// Moves the user's read position in the room to <paramref name="id"/> unless it is there or further already;
    /// returns the position afterwards. A member's position starts at the room's newest id when they join.
    /// </summary>
    ValueTask<long> MarkRoomReadAsync(string user, string room, long id, CancellationToken cancellationToken);

    /// <summary>The same for the private conversation with <paramref name="other"/> (ids are private message ids).</summary>
    ValueTask<long> MarkPrivateReadAsync(string user, string other, long id, CancellationToken cancellationToken);

    /// <summary>
    /// Per room, the user's position, how many chat messages of others came after it (deleted ones and room
    /// events not counted) and how many of those mention the user, each at most <see cref="CountCap"/>.
    /// </summary>
    ValueTask<IReadOnlyList<RoomReadState>> RoomReadStatesAsync(string user, IReadOnlyList<string> rooms, CancellationToken cancellationToken);

    /// <summary>The user's private conversations, newest first, at most <paramref name="limit"/>, with unread counts (capped).</summary>
    ValueTask<IReadOnlyList<ConversationState>> ConversationsAsync(string user, int limit, CancellationToken cancellationToken);

    /// <summary>The state of one private conversation (<see cref="ConversationState.LastId"/> 0 when there is none yet).</summary>
    ValueTask<ConversationState> ConversationAsync(string user, string other, CancellationToken cancellationToken);

    /// <summary>
    /// Chat messages of the given rooms that match every term of the query (edited ones by their new text,
    /// deleted ones never), newest first, with a <see cref="RoomSearchHit.Key"/> below <paramref name="below"/>.
    /// </summary>
    ValueTask<IReadOnlyList<RoomSearchHit>> SearchRoomsAsync(IReadOnlyList<string> rooms, SearchQuery query, long below, int limit, CancellationToken cancellationToken);

    /// <summary>Private messages the user sent or received that match every term, newest first, with an id below <paramref name="below"/>.</summary>
    ValueTask<IReadOnlyList<PrivateSearchHit>> SearchPrivateAsync(string user, SearchQuery query, long below, int limit, CancellationToken cancellationToken);
}
