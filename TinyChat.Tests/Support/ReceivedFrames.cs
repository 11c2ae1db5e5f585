using System.Text;
using System.Threading.Channels;
using TinyChat.Web;

namespace TinyChat.Tests.Support;

/// <summary>A protocol that only records the text messages a <see cref="WebSocketConnection"/> hands it, in order.</summary>
public sealed class ReceivedFrames : IFrameHandler
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly Channel<string> texts = Channel.CreateUnbounded<string>();

    public ValueTask OnTextAsync(ReadOnlyMemory<byte> utf8, CancellationToken cancellationToken)
    {
        texts.Writer.TryWrite(Encoding.UTF8.GetString(utf8.Span));
        return ValueTask.CompletedTask;
    }

    public ValueTask OnBinaryAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>The next text message, within 10 s or <paramref name="cancellationToken"/>.</summary>
    public async Task<string> NextAsync(CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Patience);
        return await texts.Reader.ReadAsync(timeout.Token);
    }
}
