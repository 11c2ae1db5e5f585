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
public sealed class SseEventEncoder : IEventEncoder
{
    private static readonly byte[] KeepAliveBytes = ": keep-alive\n\n"u8.ToArray();
    private readonly bool streamIds;

    private SseEventEncoder(bool streamIds) => this.streamIds = streamIds;

    /// <summary>For <c>/api/rooms/{room}/events</c>: a message's id is its room sequence number.</summary>
    public static SseEventEncoder RoomStream { get; } = new(streamIds: false);

    /// <summary>For <c>/api/events</c>: a message's id is a <see cref="StreamPosition"/>, opaque to clients.</summary>
    public static SseEventEncoder UserStream { get; } = new(streamIds: true);

    /// <summary>A comment line that keeps proxies and the client's idle timers from ending a quiet stream.</summary>
    public static ReadOnlyMemory<byte> KeepAlive => KeepAliveBytes;

    /// <summary>The reconnect hint sent first on every stream.</summary>
    public static byte[] Retry(int milliseconds) => Encoding.ASCII.GetBytes($"retry: {milliseconds.ToString(CultureInfo.InvariantCulture)}\n\n");

    /// <inheritdoc />
    public ReadOnlyMemory<byte> Encode(ChatEvent chatEvent)
    {
        var (name, id) = chatEvent switch
        {
            RoomMessage m => (m.Kind is null ? "message" : "room_event", streamIds ? StreamPosition.Of(m).ToString() : m.Id.ToString(CultureInfo.InvariantCulture)),
            PrivateMessage m => ("private_message", streamIds ? StreamPosition.Of(m).ToString() : m.Id.ToString(CultureInfo.InvariantCulture)),
            PresenceState => ("presence_state", null),
            PresenceDiff => ("presence_diff", null),
            TypingNotice => ("typing", null),
            _ => throw new NotSupportedException($"no SSE encoding for {chatEvent.GetType().Name}"),
        };

        // The JSON is the WebSocket clients' encoding, shared through the event's cache; it never holds a raw
        // newline, so one data: line carries it.
        var json = chatEvent.EncodeWith(JsonEventEncoder.Instance).Span;
        var buffer = new ArrayBufferWriter<byte>(json.Length + 64);
        if (id is not null)
        {
            Write(buffer, "id: ");
            Write(buffer, id);
            Write(buffer, "\n");
        }

        Write(buffer, "event: ");
        Write(buffer, name);
        Write(buffer, "\ndata: ");
        buffer.Write(json);
        Write(buffer, "\n\n");
        return buffer.WrittenSpan.ToArray();
    }

    private static void Write(ArrayBufferWriter<byte> buffer, string ascii)
    {
        var span = buffer.GetSpan(ascii.Length);
        var written = Encoding.ASCII.GetBytes(ascii, span);
        buffer.Advance(written);
    }
}

/// <summary>
/// Where a message sits in a user's <c>/api/events</c> stream: its acceptance time (ms), its id, and its room
/// (<c>@</c> for private messages, a character room names never contain). Written as <c>MS-ID-ROOM</c>.
/// </summary>
public readonly record struct StreamPosition(long UnixMs, long Id, string Room)
{
    /// <summary>The room-name stand-in for private messages.</summary>
    public const string Private = "@";

    /// <summary>The position of a room message.</summary>
    public static StreamPosition Of(RoomMessage m) => new(m.Timestamp.ToUnixTimeMilliseconds(), m.Id, m.Room);

    /// <summary>The position of a private message.</summary>
    public static StreamPosition Of(PrivateMessage m) => new(m.Timestamp.ToUnixTimeMilliseconds(), m.Id, Private);

    /// <summary>Parses <c>MS-ID-ROOM</c>; false for anything else.</summary>
    public static bool TryParse(string? text, out StreamPosition position)
    {
        position = default;
        if (text is null)
        {
            return false;
        }

        var first = text.IndexOf('-');
        var second = first < 0 ? -1 : text.IndexOf('-', first + 1);
        if (second < 0
            || !long.TryParse(text.AsSpan(0, first), NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
            || !long.TryParse(text.AsSpan(first + 1, second - first - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            return false;
        }

        var room = text[(second + 1)..];
        if (room != Private && ChatNames.CheckRoomName(room) is not null)
        {
            return false;
        }

        position = new StreamPosition(ms, id, room);
        return true;
    }

    /// <inheritdoc />
    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{UnixMs}-{Id}-{Room}");
}
