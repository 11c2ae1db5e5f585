using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace TinyChat.Chat;

/// <summary>One search hit: a room message or a private message, and where the query's words are in its text.</summary>
public sealed record SearchFound(RoomMessage? Room, PrivateMessage? Private, IReadOnlyList<(int Start, int Length)> Marks);

/// <summary>A page of search hits, newest first, and the cursor of the next page (null when there is none).</summary>
public sealed record SearchPage(IReadOnlyList<SearchFound> Hits, string? Next);

/// <content>Reading state and search: what a user has read, what waits for them, and finding what they may read.</content>
public sealed partial class ChatClient
{
    /// <summary>Most conversations one <see cref="ConversationsAsync"/> lists.</summary>
    public const int MaxConversations = 200;

    /// <summary>Largest search page.</summary>
    public const int MaxSearchLimit = 50;

    /// <summary>
    /// Marks the room read up to message <paramref name="id"/> (a position never goes back: an older id changes
    /// nothing) and tells every connection of the user, on every node, where they stand now.
    /// </summary>
    public async Task<Outcome<ReadMarker>> MarkRoomReadAsync(string room, long id, CancellationToken cancellationToken)
    {
        if (server.Reading is not { } reading)
        {
            return ChatError.Unavailable("reading state");
        }

        var member = await MemberRoomAsync(room, cancellationToken).ConfigureAwait(false);
        if (member is not null)
        {
            return member;
        }

        try
        {
            if (id > await server.Messages.LastRoomIdAsync(room, cancellationToken).ConfigureAwait(false))
            {
                return ChatError.MessageNotFound(room, id);
            }

            await reading.MarkRoomReadAsync(User, room, id, cancellationToken).ConfigureAwait(false);
            var states = await reading.RoomReadStatesAsync(User, [room], cancellationToken).ConfigureAwait(false);
            if (states.Count == 0)
            {
                return ChatError.RoomNotFound(room);
            }

            var marker = new ReadMarker(User, room, null, states[0].LastRead, states[0].Unread, states[0].Mentions);
            server.Bus.Publish(ChatTopic.User(User), new ChatBusEvent(marker));
            return Outcome<ReadMarker>.Ok(marker);
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }
    }

    /// <summary>Marks the private conversation with <paramref name="other"/> read up to message <paramref name="id"/> (never back).</summary>
    public async Task<Outcome<ReadMarker>> MarkPrivateReadAsync(string other, long id, CancellationToken cancellationToken)
    {
        if (server.Reading is not { } reading)
        {
            return ChatError.Unavailable("reading state");
        }

        try
        {
            if (ChatNames.CheckUserName(other) is not null || !await server.UserExistsAsync(other, cancellationToken).ConfigureAwait(false))
            {
                return ChatError.UserNotFound(other);
            }

            if (id > await server.Messages.LastPrivateIdAsync(cancellationToken).ConfigureAwait(false))
            {
                return new ChatError("message_not_found", $"there is no private message {id}");
            }

            await reading.MarkPrivateReadAsync(User, other, id, cancellationToken).ConfigureAwait(false);
            var state = await reading.ConversationAsync(User, other, cancellationToken).ConfigureAwait(false);
            var marker = new ReadMarker(User, null, other, state.LastRead, state.Unread, 0);
            server.Bus.Publish(ChatTopic.User(User), new ChatBusEvent(marker));
            return Outcome<ReadMarker>.Ok(marker);
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }
    }

    /// <summary>The user's position, unread and mention counts in each of <paramref name="rooms"/> (rooms the user joined).</summary>
    public async Task<IReadOnlyList<RoomReadState>> ReadStatesAsync(IReadOnlyList<string> rooms, CancellationToken cancellationToken)
    {
        if (server.Reading is not { } reading || rooms.Count == 0)
        {
            return [];
        }

        try
        {
            return await reading.RoomReadStatesAsync(User, rooms, cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException)
        {
            // The list itself was read; counts are an extra that can wait for the next request.
            return [];
        }
    }

    /// <summary>The user's private conversations, newest first, with unread counts.</summary>
    public async Task<Outcome<IReadOnlyList<ConversationState>>> ConversationsAsync(int limit, CancellationToken cancellationToken)
    {
        if (server.Reading is not { } reading)
        {
            return ChatError.Unavailable("reading state");
        }

        try
        {
            return Outcome<IReadOnlyList<ConversationState>>.Ok(
                await reading.ConversationsAsync(User, Math.Clamp(limit, 1, MaxConversations), cancellationToken).ConfigureAwait(false));
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }
    }

    /// <summary>
    /// Finds messages the user may read: in the rooms they are a member of (only <paramref name="room"/> when given)
    /// and, without a room, their private conversations; newest first, <paramref name="limit"/> per page, each with
    /// the matched words marked. <paramref name="cursor"/> is a previous page's <see cref="SearchPage.Next"/>.
    /// </summary>
    public async Task<Outcome<SearchPage>> SearchAsync(string? text, string? room, string? cursor, int limit, CancellationToken cancellationToken)
    {
        if (server.Reading is not { } reading)
        {
            return ChatError.Unavailable("search");
        }

        var parsed = SearchQuery.Parse(text);
        if (parsed.Error is { } bad)
        {
            return bad;
        }

        var query = parsed.Value!;
        if (!SearchCursor.TryRead(cursor, out var below))
        {
            return new ChatError("bad_request", "\"next\" is not a cursor of this search: pass back the \"next\" of the previous page");
        }

        IReadOnlyList<string> rooms;
        if (room is not null)
        {
            if (await MemberRoomAsync(room, cancellationToken).ConfigureAwait(false) is { } refused)
            {
                return refused;
            }

            rooms = [room];
        }
        else
        {
            var list = await RoomsAsync(cancellationToken).ConfigureAwait(false);
            if (list.Error is { } error)
            {
                return error;
            }

            // Only rooms the user is a member of, whatever else they may see: the same rule as history.
            rooms = list.Value!.Joined;
        }

        limit = Math.Clamp(limit, 1, MaxSearchLimit);
        try
        {
            var roomHits = rooms.Count == 0 || below.Room <= 0 ? [] : await reading.SearchRoomsAsync(rooms, query, below.Room, limit, cancellationToken).ConfigureAwait(false);
            var privateHits = room is not null || below.Private <= 0 ? [] : await reading.SearchPrivateAsync(User, query, below.Private, limit, cancellationToken).ConfigureAwait(false);
            return Outcome<SearchPage>.Ok(Merge(query, roomHits, privateHits, below, limit, room is not null));
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }
    }

    // Newest first across both sources; each source's cursor moves past what this page took from it.
    private static SearchPage Merge(SearchQuery query, IReadOnlyList<RoomSearchHit> roomHits, IReadOnlyList<PrivateSearchHit> privateHits, SearchCursor below, int limit, bool roomOnly)
    {
        var hits = new List<SearchFound>(limit);
        int r = 0, p = 0;
        var next = below;
        while (hits.Count < limit && (r < roomHits.Count || p < privateHits.Count))
        {
            var takeRoom = p >= privateHits.Count
                || (r < roomHits.Count && roomHits[r].Message.Timestamp >= privateHits[p].Message.Timestamp);
            if (takeRoom)
            {
                var hit = roomHits[r++];
                hits.Add(new SearchFound(hit.Message, null, query.Marks(hit.Message.Text)));
                next = next with { Room = hit.Key };
            }
            else
            {
                var hit = privateHits[p++];
                hits.Add(new SearchFound(null, hit.Message, query.Marks(hit.Message.Text)));
                next = next with { Private = hit.Message.Id };
            }
        }

        // A source that filled its page may hold more; one that returned less is exhausted (its cursor goes to 0).
        if (r == roomHits.Count && roomHits.Count < limit)
        {
            next = next with { Room = 0 };
        }

        if (roomOnly || (p == privateHits.Count && privateHits.Count < limit))
        {
            next = next with { Private = 0 };
        }

        return new SearchPage(hits, next.Room > 0 || next.Private > 0 ? next.ToString() : null);
    }

    // Null when the user is a member of the room; else why the room cannot be read (the rule history follows).
    private async Task<ChatError?> MemberRoomAsync(string room, CancellationToken cancellationToken)
    {
        if (ChatNames.CheckRoomName(room) is { } why)
        {
            return ChatError.InvalidRoomName(why);
        }

        var rooms = await RoomsAsync(cancellationToken).ConfigureAwait(false);
        if (rooms.Error is { } error)
        {
            return error;
        }

        return rooms.Value!.Joined.Contains(room) ? null
            : rooms.Value.All.Contains(room) ? ChatError.NotAMember(room)
            : ChatError.RoomNotFound(room);
    }

    /// <summary>Where the next page of a search starts in each source: below these keys (0: nothing left there).</summary>
    private readonly record struct SearchCursor(long Room, long Private)
    {
        public static bool TryRead(string? text, out SearchCursor cursor)
        {
            cursor = new SearchCursor(long.MaxValue, long.MaxValue);
            if (text is null)
            {
                return true;
            }

            try
            {
                var parts = Encoding.ASCII.GetString(Base64Url.DecodeFromChars(text)).Split('.');
                if (parts.Length == 3 && parts[0] == "s1"
                    && long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var room)
                    && long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var privateId)
                    && (room > 0 || privateId > 0))
                {
                    cursor = new SearchCursor(room, privateId);
                    return true;
                }
            }
            catch (FormatException)
            {
                // Not base64: not ours.
            }

            return false;
        }

        public override string ToString() =>
            Base64Url.EncodeToString(Encoding.ASCII.GetBytes(string.Create(CultureInfo.InvariantCulture, $"s1.{Room}.{Private}")));
    }
}
