using System.Buffers;
using System.Net.WebSockets;
using System.Text.Unicode;
using TinyChat.Chat;

namespace TinyChat.Web;

/// <summary>What a protocol does with the frames of one WebSocket connection.</summary>
public interface IFrameHandler
{
    /// <summary>One complete text message (valid UTF-8, within the size limit). Called in arrival order, one at a time.</summary>
    ValueTask OnTextAsync(ReadOnlyMemory<byte> utf8, CancellationToken cancellationToken);

    /// <summary>One complete binary message, contents discarded (the chat protocols are text-only).</summary>
    ValueTask OnBinaryAsync(CancellationToken cancellationToken);
}

/// <summary>Limits of one WebSocket connection.</summary>
public sealed record ConnectionLimits(int MaxMessageBytes, int OutboxCapacity, int ReceiveBufferBytes);

/// <summary>
/// One WebSocket: a receive loop that hands whole messages to a protocol, composed with a <see cref="ConnectionOutbox"/>
/// over a <see cref="WebSocketTransport"/>, which is the only way to send, so sends never overlap and order is preserved.
/// </summary>
public sealed class WebSocketConnection : IOutbox
{
    private static long nextId;

    // The accepted socket: its state is read, and it is closed, aborted and disposed, through it. Held for the
    // connection's life even when messages go through messageSocket: HttpListener's wrapper closes the listener's
    // connection when it is disposed, and from its finalizer too (ListenerWebSockets).
    private readonly WebSocket socket;

    // What messages are read and written through: the socket the accepted one wraps, or the accepted one itself.
    private readonly WebSocket messageSocket;
    private readonly ConnectionOutbox outbox;
    private readonly ConnectionLimits limits;
    private readonly TimeProvider time;
    private readonly TaskCompletionSource closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long lastActivity;

    // Rented only while a message is being read; null while the connection waits (see ReceiveLoopAsync).
    private byte[]? buffer;

    /// <summary>
    /// Wraps an accepted socket; <paramref name="encoder"/> (owned by the connection) decides how queued items become
    /// frames; <paramref name="abortTransport"/> cuts the underlying connection when the socket alone cannot;
    /// <paramref name="cork"/> (on that connection) packs a run of frames into full TCP segments;
    /// <paramref name="messageSocket"/> is the socket <paramref name="socket"/> wraps, to read and write messages through
    /// (<see cref="ListenerWebSockets.MessageSocket"/>), when it is a wrapper.
    /// </summary>
    public WebSocketConnection(WebSocket socket, IFrameEncoder encoder, ConnectionLimits limits, string user, TimeProvider? time = null, Action? abortTransport = null, ISendCork? cork = null, WebSocket? messageSocket = null)
    {
        this.socket = socket;
        this.messageSocket = messageSocket ?? socket;
        this.limits = limits;
        this.time = time ?? TimeProvider.System;
        User = user;
        lastActivity = this.time.GetTimestamp();
        outbox = new ConnectionOutbox(new WebSocketTransport(socket, this.time, abortTransport, cork, this.messageSocket), encoder, limits.OutboxCapacity, this.time);
    }

    /// <summary>Connection number for logs.</summary>
    public long Id { get; } = Interlocked.Increment(ref nextId);

    /// <summary>The authenticated user.</summary>
    public string User { get; }

    /// <summary>The connection's <see cref="TimeProvider.GetTimestamp"/> when the last frame arrived (or it opened).</summary>
    public long LastActivity => Volatile.Read(ref lastActivity);

    /// <summary>The accepted socket (for tests).</summary>
    internal WebSocket AcceptedSocket => socket;

    /// <summary>The socket messages are read and written through (for tests).</summary>
    internal WebSocket MessageSocket => messageSocket;

    /// <summary>Bytes of receive buffer the connection holds now: none while it waits for a message.</summary>
    internal int ReceiveBufferBytesHeld => Volatile.Read(ref buffer)?.Length ?? 0;

    /// <summary>Why the server closed the connection, once it did.</summary>
    public string? ServerCloseReason => outbox.CloseReason;

    /// <summary>The close code the server chose, once it closed.</summary>
    public WebSocketCloseStatus? ServerCloseStatus => (WebSocketCloseStatus?)outbox.CloseCode;

    /// <summary>Completes when both loops have ended.</summary>
    public Task Closed => closed.Task;

    /// <inheritdoc />
    public bool TryDeliver(ChatEvent chatEvent) => outbox.TryDeliver(chatEvent);

    /// <inheritdoc />
    public bool TryDeliverBatch(IReadOnlyList<ChatEvent> batch) => outbox.TryDeliverBatch(batch);

    /// <inheritdoc cref="ConnectionOutbox.TryDeliver(Reply)" />
    public bool TryDeliver(Reply reply) => outbox.TryDeliver(reply);

    /// <inheritdoc cref="ConnectionOutbox.Capacity" />
    public int OutboxCapacity => outbox.Capacity;

    /// <inheritdoc cref="ConnectionOutbox.WhenQueuedAtMostAsync" />
    public Task WhenQueuedAtMostAsync(int items, CancellationToken cancellationToken) => outbox.WhenQueuedAtMostAsync(items, cancellationToken);

    /// <summary>
    /// Closes the connection from the server side with a code and a reason. Never blocks. With <paramref name="drain"/>,
    /// frames already queued are sent first (shutdown); without, they are dropped (slow reader, protocol violation).
    /// </summary>
    public void Close(WebSocketCloseStatus status, string reason, bool drain) => outbox.Close((int)status, reason, drain);

    /// <inheritdoc />
    public void Disconnect(string reason) => outbox.Disconnect(reason);

    /// <summary>Runs both loops until the connection is closed. Never throws for network errors.</summary>
    public async Task RunAsync(IFrameHandler handler, CancellationToken cancellationToken)
    {
        try
        {
            await outbox.RunAsync(() => ReceiveAsync(handler, cancellationToken)).ConfigureAwait(false);
        }
        finally
        {
            // The accepted socket, not messageSocket: HttpListener's wrapper then also closes the listener's connection.
            socket.Dispose();
            closed.TrySetResult();
        }
    }

    /// <summary>Cuts the connection without a close handshake.</summary>
    public void Abort() => outbox.Abort();

    private async Task ReceiveAsync(IFrameHandler handler, CancellationToken cancellationToken)
    {
        try
        {
            await ReceiveLoopAsync(handler, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // The peer vanished or the socket was aborted: nothing to tell anyone.
        }
    }

    private async Task ReceiveLoopAsync(IFrameHandler handler, CancellationToken cancellationToken)
    {
        // No buffer while waiting: an idle connection waits with a zero-byte read, which returns once a frame has
        // begun to arrive, and a buffer is rented only while a message is being read (thousands of idle connections
        // would otherwise each hold one).
        var length = 0;
        long lingered = 0;
        try
        {
            // Keep reading after our close frame went out (CloseSent) until the peer's close arrives: closing a
            // socket with unread input makes the kernel send a reset, and the peer would lose our close frame.
            while (socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                if (outbox.IsClosing)
                {
                    // Closing (for example the rest of an oversized message is still coming): input is discarded,
                    // up to a bound, and the outbox's grace bounds the time (LingeringClose).
                    buffer ??= ArrayPool<byte>.Shared.Rent(limits.ReceiveBufferBytes);
                    var discarded = await messageSocket.ReceiveAsync(buffer.AsMemory(), CancellationToken.None).ConfigureAwait(false);
                    if (discarded.MessageType == WebSocketMessageType.Close)
                    {
                        return;
                    }

                    lingered += discarded.Count;
                    if (lingered > LingeringClose.MaxBytes)
                    {
                        return;
                    }

                    continue;
                }

                if (buffer is not null && length == buffer.Length)
                {
                    // Grow on demand, up to the limit + 1 so an oversize message is detected, not truncated.
                    var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, limits.MaxMessageBytes + 1));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                // Not cancellable on purpose: cancelling a WebSocket receive aborts the socket, and shutdown must
                // close with 1001 instead. Close() ends this loop through the close handshake (or Abort after a grace).
                var into = buffer is null ? Memory<byte>.Empty : buffer.AsMemory(length);
                var result = await messageSocket.ReceiveAsync(into, CancellationToken.None).ConfigureAwait(false);
                Volatile.Write(ref lastActivity, time.GetTimestamp());
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    Close(WebSocketCloseStatus.NormalClosure, "", drain: false);
                    return;
                }

                length += result.Count;
                if (length > limits.MaxMessageBytes)
                {
                    // Not a return: the rest of the message is read and discarded until the client answers the close.
                    Close(WebSocketCloseStatus.MessageTooBig, $"message exceeds {limits.MaxMessageBytes} bytes", drain: false);
                    length = 0;
                    continue;
                }

                if (!result.EndOfMessage)
                {
                    buffer ??= ArrayPool<byte>.Shared.Rent(limits.ReceiveBufferBytes);
                    continue;
                }

                var message = buffer is null ? ReadOnlyMemory<byte>.Empty : buffer.AsMemory(0, length);
                length = 0;
                if (outbox.IsClosing)
                {
                    // Closed while this message was arriving: it is not accepted (its sender gets no acknowledgement).
                    continue;
                }

                if (result.MessageType == WebSocketMessageType.Binary)
                {
                    await handler.OnBinaryAsync(cancellationToken).ConfigureAwait(false);
                }
                else if (!Utf8.IsValid(message.Span))
                {
                    Close(WebSocketCloseStatus.InvalidPayloadData, "text frame is not valid UTF-8", drain: false);
                    continue;
                }
                else
                {
                    await handler.OnTextAsync(message, cancellationToken).ConfigureAwait(false);
                }

                if (buffer is not null)
                {
                    // The message is handled: back to waiting without a buffer.
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = null;
                }
            }
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
                buffer = null;
            }
        }
    }
}
