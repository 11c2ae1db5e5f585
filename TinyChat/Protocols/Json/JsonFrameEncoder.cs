using System.Buffers;
using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Protocols.Json;

/// <summary>How a native-protocol client asked for its frames (<c>batch</c> in the URL, docs/protocol.md, Batching).</summary>
public enum JsonFraming
{
    /// <summary>No <c>batch</c> (or <c>batch=0</c>): one JSON object per WebSocket message.</summary>
    Single,

    /// <summary><c>batch=1</c>: the objects queued together, joined by newlines into one message.</summary>
    Lines,

    /// <summary>
    /// <c>batch=2</c>: as <see cref="Lines"/>, and consecutive chat messages of one room with consecutive ids and the
    /// same time are one group object that names the room, the first id and the time once.
    /// </summary>
    Groups,
}

/// <summary>
/// The native protocol's frames on one connection: one JSON object per WebSocket message, or, for a client that
/// asked for batches, the objects queued together joined by newlines into one message (a JSON object never holds a
/// raw newline, see <see cref="JsonEventEncoder.WriterOptions"/>), with chat messages grouped for <c>batch=2</c>.
/// The joining buffer comes from <paramref name="pool"/> (the shared pool unless a test watches what is returned).
/// </summary>
public sealed class JsonFrameEncoder(JsonFraming framing, ArrayPool<byte>? pool = null) : IFrameEncoder
{
    /// <summary>A joined frame stops taking objects once it holds this many bytes; the rest start the next frame.</summary>
    public const int MaxJoinedBytes = 64 * 1024;

    private readonly ArrayPool<byte> pool = pool ?? ArrayPool<byte>.Shared;
    private byte[]? joined;

    /// <summary>One object per message (<paramref name="batch"/> false) or newline-joined batches (<c>batch=1</c>).</summary>
    public JsonFrameEncoder(bool batch, ArrayPool<byte>? pool = null)
        : this(batch ? JsonFraming.Lines : JsonFraming.Single, pool)
    {
    }

    /// <summary>Bytes of joining buffer held now (none once released).</summary>
    internal int HeldBytes => joined?.Length ?? 0;

    /// <inheritdoc />
    public IEventEncoder Events => framing == JsonFraming.Groups ? GroupedEventEncoder.Instance : JsonEventEncoder.Instance;

    /// <inheritdoc />
    public IBatchEncoder? Batches => framing switch
    {
        JsonFraming.Lines => JsonBatchEncoder.Lines,
        JsonFraming.Groups => JsonBatchEncoder.Groups,
        _ => null,
    };

    /// <inheritdoc />
    public void Frame(IReadOnlyList<ReadOnlyMemory<byte>> items, List<ReadOnlyMemory<byte>> frames) =>
        Frame(items, [], frames);

    /// <inheritdoc />
    public void Frame(IReadOnlyList<ReadOnlyMemory<byte>> items, IReadOnlyList<ChatEvent?> events, List<ReadOnlyMemory<byte>> frames)
    {
        if (framing == JsonFraming.Single || items.Count == 1)
        {
            for (var i = 0; i < items.Count; i++)
            {
                frames.Add(items[i]);
            }

            return;
        }

        // Frames are slices of one pooled buffer, so it is sized for all of them before the first copy (a group
        // takes fewer bytes than its messages did as groups of one).
        var needed = items.Count - 1;
        for (var i = 0; i < items.Count; i++)
        {
            needed += items[i].Length;
        }

        if (joined is null || joined.Length < needed)
        {
            ReturnBuffer();
            joined = pool.Rent(Math.Max(needed, 16 * 1024));
        }

        var grouping = framing == JsonFraming.Groups && events.Count == items.Count;
        RoomMessage? open = null;
        var start = 0;
        var length = 0;
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i].Span;
            var next = grouping ? events[i] as RoomMessage : null;
            if (next is not null && !GroupedEventEncoder.IsGrouped(next))
            {
                next = null;
            }

            if (i > 0)
            {
                if (length - start >= MaxJoinedBytes)
                {
                    frames.Add(joined.AsMemory(start, length - start));
                    start = length;
                    open = null;
                }
                else if (next is not null && open is not null && Extends(open, next))
                {
                    // The group's closing ]} makes way for the next message and comes back after it.
                    length -= 2;
                    joined[length++] = (byte)',';
                    var message = item[GroupedEventEncoder.MessageStart(item)..];
                    message.CopyTo(joined.AsSpan(length));
                    length += message.Length;
                    open = next;
                    continue;
                }
                else
                {
                    joined[length++] = (byte)'\n';
                }
            }

            item.CopyTo(joined.AsSpan(length));
            length += item.Length;
            open = next;
        }

        frames.Add(joined.AsMemory(start, length - start));
    }

    /// <inheritdoc />
    public void Release() => ReturnBuffer();

    /// <inheritdoc />
    public void Dispose() => ReturnBuffer();

    // The group says the room, its first id and the time once: a message joins it only if all three follow.
    private static bool Extends(RoomMessage last, RoomMessage next) =>
        next.Id == last.Id + 1
        && string.Equals(next.Room, last.Room, StringComparison.Ordinal)
        && next.Timestamp.ToUnixTimeMilliseconds() == last.Timestamp.ToUnixTimeMilliseconds();

    private void ReturnBuffer()
    {
        if (joined is not null)
        {
            pool.Return(joined);
            joined = null;
        }
    }
}
