using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Protocols.Phoenix;

/// <summary>
/// Phoenix frames on one connection: each message its own WebSocket message (phoenix.js decodes one message per
/// frame). An encoded item may hold several messages separated by newlines (a private message goes to two topics);
/// they are split into frames without copying. An encoded message never holds a raw newline.
/// </summary>
public sealed class PhoenixFrameEncoder(PhoenixVersion version) : IFrameEncoder
{
    /// <inheritdoc />
    public IEventEncoder Events { get; } = PhoenixEventEncoder.For(version);

    /// <inheritdoc />
    public void Frame(IReadOnlyList<ReadOnlyMemory<byte>> items, List<ReadOnlyMemory<byte>> frames)
    {
        for (var i = 0; i < items.Count; i++)
        {
            var rest = items[i];
            int newline;
            while ((newline = rest.Span.IndexOf((byte)'\n')) >= 0)
            {
                frames.Add(rest[..newline]);
                rest = rest[(newline + 1)..];
            }

            frames.Add(rest);
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
