using System.Buffers;
using System.Buffers.Text;
using System.Runtime.InteropServices;
using System.Text;
using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Protocols.Http;

/// <summary>
/// An SSE stream's framing. Every encoded item is a complete event (or comment) and is written as it is, except on
/// a user stream (one with a <see cref="Cursor"/>): there a message comes marked (see <see cref="SseEventEncoder"/>),
/// and this stream moves its cursor past the message and ends the event with <c>id: CURSOR</c>. The per-stream work
/// happens here, in the stream's writer loop, into a buffer reused from run to run: fan-out stays one shared encoding.
/// The buffer comes from <paramref name="pool"/> (the shared pool unless a test watches what is returned).
/// </summary>
public sealed class SseFrameEncoder(SseEventEncoder events, ArrayPool<byte>? pool = null) : IFrameEncoder
{
    private readonly ArrayPool<byte> pool = pool ?? ArrayPool<byte>.Shared;
    private readonly List<byte> ids = [];
    private readonly List<(int Start, int Length)> spans = [];
    private byte[]? buffer;

    /// <inheritdoc />
    public IEventEncoder Events { get; } = events;

    /// <summary>The user stream's position, set before the first message is queued; null on a room stream.</summary>
    public StreamCursor? Cursor { get; set; }

    /// <inheritdoc />
    public void Frame(IReadOnlyList<ReadOnlyMemory<byte>> items, List<ReadOnlyMemory<byte>> frames)
    {
        if (Cursor is not { } cursor)
        {
            foreach (var item in items)
            {
                frames.Add(item);
            }

            return;
        }

        // First every id line of the run into one buffer, then the frames as slices of it (it no longer moves).
        ids.Clear();
        spans.Clear();
        foreach (var item in items)
        {
            if (!item.Span.IsEmpty && item.Span[0] == SseEventEncoder.MessageMark)
            {
                var start = ids.Count;
                Advance(cursor, item.Span[1..item.Span.IndexOf((byte)'\n')]);
                ids.AddRange("id: "u8);
                cursor.WriteTo(ids);
                ids.AddRange("\n\n"u8);
                spans.Add((start, ids.Count - start));
            }
        }

        if (buffer is null || buffer.Length < ids.Count)
        {
            ReturnBuffer();
            buffer = pool.Rent(Math.Max(ids.Count, 4096));
        }

        CollectionsMarshal.AsSpan(ids).CopyTo(buffer);
        var next = 0;
        foreach (var item in items)
        {
            if (!item.Span.IsEmpty && item.Span[0] == SseEventEncoder.MessageMark)
            {
                frames.Add(item[(item.Span.IndexOf((byte)'\n') + 1)..]);
                var (start, length) = spans[next++];
                frames.Add(buffer.AsMemory(start, length));
            }
            else
            {
                frames.Add(item);
            }
        }
    }

    /// <inheritdoc />
    public void Release() => ReturnBuffer();

    /// <inheritdoc />
    public void Dispose() => ReturnBuffer();

    // The mark is "ROOM ID" or "@ ID" in ASCII, written by SseEventEncoder; read without allocating.
    private static void Advance(StreamCursor cursor, ReadOnlySpan<byte> mark)
    {
        var space = mark.IndexOf((byte)' ');
        Utf8Parser.TryParse(mark[(space + 1)..], out long id, out _);
        Span<char> room = stackalloc char[space];
        Encoding.ASCII.GetChars(mark[..space], room);
        if (room.SequenceEqual(SseEventEncoder.PrivateMark))
        {
            cursor.DeliveredPrivate(id);
        }
        else
        {
            cursor.Delivered(room, id);
        }
    }

    private void ReturnBuffer()
    {
        if (buffer is not null)
        {
            pool.Return(buffer);
            buffer = null;
        }
    }
}
