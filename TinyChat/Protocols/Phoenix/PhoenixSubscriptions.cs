using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Protocols.Phoenix;

/// <summary>The send side of one Phoenix socket, whatever carries it (a WebSocket, a long-poll session).</summary>
public interface IPhoenixLink : IOutbox
{
    /// <summary>Queues bytes for this socket alone (a reply). Never blocks; false when the queue was full.</summary>
    bool TryDeliver(Reply reply);

    /// <summary>Closes the socket from the server side; queued items are dropped.</summary>
    void Close(int code, string reason);

    /// <summary>How many items the socket's queue holds.</summary>
    int Capacity { get; }

    /// <summary>Completes once at most <paramref name="items"/> are queued for the socket, or it is closing.</summary>
    Task WhenQueuedAtMostAsync(int items, CancellationToken cancellationToken);
}

/// <summary>
/// The topics one Phoenix socket has joined, as the outbox the chat core delivers to: an event reaches the socket
/// only if its topic is joined here (the core delivers every event of the user's rooms to every connection).
/// While a room join is in progress its events are held back, so the join reply, the presence state and the
/// missed history go first and nothing is delivered twice or lost. Thread-safe: rooms deliver concurrently.
/// </summary>
public sealed class PhoenixSubscriptions(IPhoenixLink link, PhoenixEventEncoder encoder, int maxHeldBack) : IOutbox
{
    private readonly object gate = new();
    private readonly Dictionary<string, RoomTopic> rooms = new(StringComparer.Ordinal);
    private string? userJoinRef;

    /// <inheritdoc />
    public void Disconnect(string reason) => link.Disconnect(reason);

    /// <summary>Whether the socket has joined <c>room:ROOM</c> (or is joining it).</summary>
    public bool HasRoom(string room)
    {
        lock (gate)
        {
            return rooms.ContainsKey(room);
        }
    }

    /// <summary>Whether the socket has joined its user's own topic.</summary>
    public bool HasUser
    {
        get
        {
            lock (gate)
            {
                return userJoinRef is not null;
            }
        }
    }

    /// <summary>Starts joining a room topic: its events are held back until <see cref="CompleteRoomJoin"/>.</summary>
    public void BeginRoomJoin(string room, string? joinRef)
    {
        lock (gate)
        {
            rooms[room] = new RoomTopic(joinRef) { HeldBack = [] };
        }
    }

    /// <summary>
    /// Finishes a room join: the held-back events go out in order, except room messages up to
    /// <paramref name="deliveredUpTo"/> (already pushed from history) and presence states (one was just sent).
    /// </summary>
    public void CompleteRoomJoin(string room, long deliveredUpTo)
    {
        lock (gate)
        {
            if (!rooms.TryGetValue(room, out var topic) || topic.HeldBack is not { } held)
            {
                return;
            }

            topic.HeldBack = null;
            foreach (var chatEvent in held)
            {
                if (chatEvent is RoomMessage message && message.Id <= deliveredUpTo || chatEvent is PresenceState)
                {
                    continue;
                }

                link.TryDeliver(chatEvent);
            }
        }
    }

    /// <summary>Leaves a room topic (the user stays a member of the room).</summary>
    public void RemoveRoom(string room)
    {
        lock (gate)
        {
            rooms.Remove(room);
        }
    }

    /// <summary>Joins or leaves the user's own topic.</summary>
    public void SetUser(string? joinRef)
    {
        lock (gate)
        {
            userJoinRef = joinRef;
        }
    }

    /// <inheritdoc />
    public bool TryDeliver(ChatEvent chatEvent)
    {
        var room = chatEvent switch
        {
            RoomMessage m => m.Room,
            PresenceDiff d => d.Room,
            PresenceConnectionDiff c => c.Room,
            PresenceState s => s.Room,
            PresenceCount c => c.Room,
            TypingNotice { Room: { } r } => r,
            _ => null,
        };
        lock (gate)
        {
            if (room is null)
            {
                return userJoinRef is null || link.TryDeliver(chatEvent);
            }

            if (!rooms.TryGetValue(room, out var topic))
            {
                return true;
            }

            if (topic.HeldBack is { } held)
            {
                if (held.Count >= maxHeldBack)
                {
                    link.Close(ConnectionOutbox.SlowReaderCode, ConnectionOutbox.SlowReaderReason);
                    return false;
                }

                held.Add(chatEvent);
                return true;
            }

            if (chatEvent is PresenceState)
            {
                // Rooms push a presence state to joined members only when their loop restarted: for phoenix.js
                // that is a channel crash. It rejoins (with the last id it saw) and so gets what it missed.
                rooms.Remove(room);
                return link.TryDeliver(new Reply(encoder.Message(topic.JoinRef, topic.JoinRef, PhoenixTopics.Room(room), "phx_error", EmptyObject)));
            }

            return link.TryDeliver(chatEvent);
        }
    }

    private static void EmptyObject(System.Text.Json.Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteEndObject();
    }

    private sealed class RoomTopic(string? joinRef)
    {
        public string? JoinRef { get; } = joinRef;

        public List<ChatEvent>? HeldBack { get; set; }
    }
}
