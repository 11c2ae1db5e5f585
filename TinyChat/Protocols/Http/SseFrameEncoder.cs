using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Protocols.Http;

/// <summary>An SSE stream's framing: every encoded item already is a complete event (or comment), written as it is.</summary>
public sealed class SseFrameEncoder(SseEventEncoder events) : IFrameEncoder
{
    /// <inheritdoc />
    public IEventEncoder Events { get; } = events;

    /// <inheritdoc />
    public void Frame(IReadOnlyList<ReadOnlyMemory<byte>> items, List<ReadOnlyMemory<byte>> frames)
    {
        foreach (var item in items)
        {
            frames.Add(item);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
