using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Protocols.Http;

/// <summary>
/// What an event stream's user session delivers into, in front of the stream's outbox: it keeps only the events
/// the stream shows (one room's, or all), and while history is replayed on a resume it holds live events back, so
/// the stream reads history then live with no gap; a live message the replay already sent is dropped by id, so
/// there is no duplicate either. Never blocks; holding is bounded by the outbox capacity.
/// </summary>
public sealed class StreamGate(ConnectionOutbox outbox, string? room, int capacity) : IOutbox
{
    private readonly object holding = new();
    private readonly Dictionary<string, long> sentUpTo = new(StringComparer.Ordinal);
    private List<ChatEvent>? held = [];
    private volatile bool live;

    /// <summary>The room this stream shows, or null for everything the user receives.</summary>
    public string? Room { get; } = room;

    /// <inheritdoc />
    public bool TryDeliver(ChatEvent chatEvent)
    {
        if (!Shows(chatEvent))
        {
            return true;
        }

        if (!live)
        {
            lock (holding)
            {
                if (held is not null)
                {
                    if (held.Count >= capacity)
                    {
                        outbox.Close(ConnectionOutbox.SlowReaderCode, ConnectionOutbox.SlowReaderReason, drain: false);
                        return false;
                    }

                    held.Add(chatEvent);
                    return true;
                }
            }
        }

        return AlreadySent(chatEvent) || outbox.TryDeliver(chatEvent);
    }

    /// <inheritdoc />
    public void Disconnect(string reason) => outbox.Disconnect(reason);

    /// <summary>Marks every message of <paramref name="room"/> up to <paramref name="id"/> as sent (the client has it). Before <see cref="GoLive"/> only.</summary>
    public void SentUpTo(string room, long id)
    {
        if (!sentUpTo.TryGetValue(room, out var known) || known < id)
        {
            sentUpTo[room] = id;
        }
    }

    /// <summary>The id of the first held live message of a room (or of the private messages, <see cref="SseEventEncoder.PrivateMark"/>), if any. Before <see cref="GoLive"/> only.</summary>
    public long? FirstHeldId(string room)
    {
        lock (holding)
        {
            foreach (var chatEvent in held ?? [])
            {
                switch (chatEvent)
                {
                    case RoomMessage m when m.Room == room:
                        return m.Id;
                    case PrivateMessage p when room == SseEventEncoder.PrivateMark:
                        return p.Id;
                }
            }

            return null;
        }
    }

    /// <summary>Queues a replayed message ahead of every held live event. Before <see cref="GoLive"/> only.</summary>
    public bool Replay(ChatEvent message)
    {
        switch (message)
        {
            case RoomMessage m:
                SentUpTo(m.Room, m.Id);
                break;
            case PrivateMessage p:
                SentUpTo(SseEventEncoder.PrivateMark, p.Id);
                break;
        }

        return outbox.TryDeliver(message);
    }

    /// <summary>Releases the held live events (minus those the replay sent) and lets later ones straight through.</summary>
    public void GoLive()
    {
        lock (holding)
        {
            foreach (var chatEvent in held ?? [])
            {
                if (!AlreadySent(chatEvent) && !outbox.TryDeliver(chatEvent))
                {
                    break;
                }
            }

            held = null;
            live = true;
        }
    }

    private bool Shows(ChatEvent chatEvent) => chatEvent is not PresenceConnectionDiff && (Room is null || chatEvent switch
    {
        RoomMessage m => m.Room == Room,
        PresenceState s => s.Room == Room,
        PresenceDiff d => d.Room == Room,
        PresenceCount c => c.Room == Room,
        TypingNotice t => t.Room == Room,
        _ => false,
    });

    // Read-only once live (written before the volatile flag), so the fan-out path reads it without locking.
    private bool AlreadySent(ChatEvent chatEvent) => chatEvent switch
    {
        RoomMessage m => sentUpTo.TryGetValue(m.Room, out var upTo) && m.Id <= upTo,
        PrivateMessage p => sentUpTo.TryGetValue(SseEventEncoder.PrivateMark, out var upTo) && p.Id <= upTo,
        _ => false,
    };
}
