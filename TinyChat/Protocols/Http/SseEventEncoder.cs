using System.Buffers;
using System.Globalization;
using System.Text;
using TinyChat.Chat;
using TinyChat.Protocols.Json;

namespace TinyChat.Protocols.Http;

/// <summary>
/// Encodes chat events as Server-Sent Events: <c>id:</c> (messages only), <c>event:</c> and the native protocol's
/// JSON in one <c>data:</c> line. Two instances, one per kind of stream, because the two differ in their ids; each
/// event is encoded once per instance for every stream of that kind.
/// </summary>
/// <remarks>
/// On a room stream a message's id is its room sequence number, the same for every reader. On the user stream
/// the id is the reader's own <see cref="StreamCursor"/>, which no shared encoding can hold: there a message is
/// encoded once as a <see cref="MessageMark"/> line (its room or <c>@</c>, its id) followed by the event without
/// its id and closing blank line, and each stream's <see cref="SseFrameEncoder"/> strips the mark and ends the
/// event with <c>id: CURSOR</c> in its writer loop.
/// </remarks>
public sealed class SseEventEncoder : IEventEncoder
{
    private static readonly byte[] KeepAliveBytes = ": keep-alive\n\n"u8.ToArray();
    private readonly bool streamIds;

    private SseEventEncoder(bool streamIds) => this.streamIds = streamIds;

    /// <summary>For <c>/api/rooms/{room}/events</c>: a message's id is its room sequence number.</summary>
    public static SseEventEncoder RoomStream { get; } = new(streamIds: false);

    /// <summary>The first byte of a user-stream message's mark line (never the first byte of an SSE field or comment).</summary>
    public const byte MessageMark = 0;

    /// <summary>The mark's room for private messages (never a room name).</summary>
    public const string PrivateMark = "@";

    /// <summary>For <c>/api/events</c>: a message's id is the reader's <see cref="StreamCursor"/>, opaque to clients.</summary>
    public static SseEventEncoder UserStream { get; } = new(streamIds: true);

    /// <summary>A comment line that keeps proxies and the client's idle timers from ending a quiet stream.</summary>
    public static ReadOnlyMemory<byte> KeepAlive => KeepAliveBytes;

    /// <summary>The reconnect hint sent first on every stream.</summary>
    public static byte[] Retry(int milliseconds) => Encoding.ASCII.GetBytes($"retry: {milliseconds.ToString(CultureInfo.InvariantCulture)}\n\n");

    /// <inheritdoc />
    public ReadOnlyMemory<byte> Encode(ChatEvent chatEvent)
    {
        if (chatEvent is PresenceConnectionDiff or PresenceDiff { Relisting: true, Joins.Count: 0 })
        {
            // Streams carry the native JSON, which shows a user once however many connections, and says that a
            // room's list is hidden with the presence_count that follows.
            return ReadOnlyMemory<byte>.Empty;
        }

        var (name, id) = chatEvent switch
        {
            RoomMessage m => (m.Kind is null ? "message" : "room_event", m.Id.ToString(CultureInfo.InvariantCulture)),
            PrivateMessage m => ("private_message", m.Id.ToString(CultureInfo.InvariantCulture)),
            PresenceState { Counted: true } or PresenceCount => ("presence_count", null),
            PresenceState or PresenceDiff { Relisting: true } => ("presence_state", null),
            PresenceDiff => ("presence_diff", null),
            TypingNotice => ("typing", null),
            MentionNotice => ("mention", null),
            ReadMarker => ("read", null),
            _ => throw new NotSupportedException($"no SSE encoding for {chatEvent.GetType().Name}"),
        };

        // The JSON is the WebSocket clients' encoding, shared through the event's cache; it never holds a raw
        // newline, so one data: line carries it.
        var json = chatEvent.EncodeWith(JsonEventEncoder.Instance).Span;
        var buffer = new ArrayBufferWriter<byte>(json.Length + 64);
        var marked = streamIds && id is not null;
        if (marked)
        {
            buffer.Write([MessageMark]);
            Write(buffer, chatEvent is RoomMessage room ? room.Room : PrivateMark);
            Write(buffer, " ");
            Write(buffer, id!);
            Write(buffer, "\n");
        }
        else if (id is not null)
        {
            Write(buffer, "id: ");
            Write(buffer, id);
            Write(buffer, "\n");
        }

        Write(buffer, "event: ");
        Write(buffer, name);
        Write(buffer, "\ndata: ");
        buffer.Write(json);
        Write(buffer, marked ? "\n" : "\n\n");
        return buffer.WrittenSpan.ToArray();
    }

    private static void Write(ArrayBufferWriter<byte> buffer, string ascii)
    {
        var span = buffer.GetSpan(ascii.Length);
        var written = Encoding.ASCII.GetBytes(ascii, span);
        buffer.Advance(written);
    }
}
