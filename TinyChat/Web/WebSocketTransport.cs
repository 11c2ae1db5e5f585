using System.Net.WebSockets;
using System.Runtime.CompilerServices;

namespace TinyChat.Web;

/// <summary>
/// The send side of a WebSocket: each frame is one text message; closing is the close handshake's first half. With a
/// <paramref name="cork"/>, the frames of a write-many leave in as few TCP segments as they fill. Messages are
/// written through <paramref name="messageSocket"/> when given (the socket <paramref name="socket"/> wraps, see
/// <see cref="ListenerWebSockets"/>).
/// </summary>
public sealed class WebSocketTransport(WebSocket socket, TimeProvider? time = null, Action? abortConnection = null, ISendCork? cork = null, WebSocket? messageSocket = null) : ITransport
{
    private static readonly TimeSpan CloseHandshakeTimeout = TimeSpan.FromSeconds(2);
    private readonly TimeProvider time = time ?? TimeProvider.System;
    private readonly WebSocket messageSocket = messageSocket ?? socket;

    /// <inheritdoc />
    // Pooled builder: a send that completes asynchronously (the common case under load) allocates no state machine box.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        try
        {
            await messageSocket.SendAsync(frame, WebSocketMessageType.Text, true, cancellationToken).ConfigureAwait(false);
        }
        catch (WebSocketException ex)
        {
            throw new IOException(ex.Message, ex);
        }
    }

    /// <inheritdoc />
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    public async ValueTask WriteManyAsync(IReadOnlyList<ReadOnlyMemory<byte>> frames, CancellationToken cancellationToken)
    {
        // WebSocket messages cannot share a send, so each is its own socket write; corked, the kernel packs those
        // writes into full segments instead of sending one small segment per message.
        cork?.Cork();
        try
        {
            for (var i = 0; i < frames.Count; i++)
            {
                await messageSocket.SendAsync(frames[i], WebSocketMessageType.Text, true, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (WebSocketException ex)
        {
            throw new IOException(ex.Message, ex);
        }
        finally
        {
            cork?.Uncork();
        }
    }

    /// <inheritdoc />
    public async ValueTask CloseAsync(int code, string reason, CancellationToken cancellationToken)
    {
        if (socket.State is not (WebSocketState.Open or WebSocketState.CloseReceived))
        {
            return;
        }

        using var timeout = new CancellationTokenSource(CloseHandshakeTimeout, time);
        using var linked = cancellationToken.CanBeCanceled ? CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token) : null;
        try
        {
            // Through the accepted socket, as State above and Abort below: HttpListener's wrapper hands these to the
            // socket it wraps unchanged (the close frame goes out on the same socket the messages did, and both report
            // the same state), and a runtime whose wrapper does work of its own on a close still gets it. The
            // listener's connection itself is closed when the connection disposes the wrapper, after both loops.
            // Only our half: the connection's receive loop reads on until the peer's close arrives.
            await socket.CloseOutputAsync((WebSocketCloseStatus)code, reason, (linked ?? timeout).Token).ConfigureAwait(false);
        }
        catch (WebSocketException ex)
        {
            throw new IOException(ex.Message, ex);
        }
    }

    /// <inheritdoc />
    public void Abort()
    {
        socket.Abort();

        // HttpListener's WebSocket does not own its TCP connection, so aborting it leaves a blocked send blocked;
        // closing the underlying connection is what wakes it.
        abortConnection?.Invoke();
    }
}
