using System.Buffers;
using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Protocols.Json;

/// <summary>
/// The native protocol's frames on one connection: one JSON object per WebSocket message, or, for a client that
/// asked for batches (<c>batch=1</c>), the objects queued together joined by newlines into one message (a JSON object
/// never holds a raw newline, see <see cref="JsonEventEncoder.WriterOptions"/>).
/// The joining buffer comes from <paramref name="pool"/> (the shared pool unless a test watches what is returned).
/// </summary>
public sealed class JsonFrameEncoder(bool batch, ArrayPool<byte>? pool = null) : IFrameEncoder
{
    /// <summary>A joined frame stops taking objects once it holds this many bytes; the rest start the next frame.</summary>
    public const int MaxJoinedBytes = 64 * 1024;

    private readonly ArrayPool<byte> pool = pool ?? ArrayPool<byte>.Shared;
    private byte[]? joined;

    /// <summary>Bytes of joining buffer held now (none once released).</summary>
    internal int HeldBytes => joined?.Length ?? 0;

    /// <inheritdoc />
    public IEventEncoder Events => JsonEventEncoder.Instance;

    /// <inheritdoc />
    public void Frame(IReadOnlyList<ReadOnlyMemory<byte>> items, List<ReadOnlyMemory<byte>> frames)
    {
        if (!batch || items.Count == 1)
        {
            for (var i = 0; i < items.Count; i++)
            {
                frames.Add(items[i]);
            }

            return;
        }

        // Frames are slices of one pooled buffer, so it is sized for all of them before the first copy.
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

        var start = 0;
        var length = 0;
        for (var i = 0; i < items.Count; i++)
        {
            if (i > 0)
            {
                if (length - start >= MaxJoinedBytes)
                {
                    frames.Add(joined.AsMemory(start, length - start));
                    start = length;
                }
                else
                {
                    joined[length++] = (byte)'\n';
                }
            }

            items[i].Span.CopyTo(joined.AsSpan(length));
            length += items[i].Length;
        }

        frames.Add(joined.AsMemory(start, length - start));
    }

    /// <inheritdoc />
    public void Release() => ReturnBuffer();

    /// <inheritdoc />
    public void Dispose() => ReturnBuffer();

    private void ReturnBuffer()
    {
        if (joined is not null)
        {
            pool.Return(joined);
            joined = null;
        }
    }
}
