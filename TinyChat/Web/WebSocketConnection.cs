using System.Buffers;
using System.Net.WebSockets;
using System.Text.Unicode;
using System.Threading.Channels;
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
/// One WebSocket: a receive loop that hands whole messages to a protocol, and a writer loop that drains the
/// bounded outbox. The outbox is the only way to send, so sends never overlap and order is preserved.
/// </summary>
public sealed class WebSocketConnection : IOutbox
{
    private static readonly TimeSpan CloseHandshakeTimeout = TimeSpan.FromSeconds(2);
    private static long nextId;
    private readonly WebSocket socket;
    private readonly Channel<ChatEvent> outbox;
    private readonly IEventEncoder encoder;
    private readonly ConnectionLimits limits;
    private readonly bool batch;
    private readonly Action? abortTransport;
    private readonly TaskCompletionSource closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long lastActivity = Environment.TickCount64;
    private int closing;
    private bool discardPending;
    private WebSocketCloseStatus closeStatus = WebSocketCloseStatus.NormalClosure;
    private string closeReason = "";

    /// <summary>Wraps an accepted socket; <paramref name="batch"/> lets the writer put several JSON lines in one frame.</summary>
    public WebSocketConnection(WebSocket socket, IEventEncoder encoder, ConnectionLimits limits, bool batch, string user, Action? abortTransport = null)
    {
        this.socket = socket;
        this.abortTransport = abortTransport;
        this.encoder = encoder;
        this.limits = limits;
        this.batch = batch;
        User = user;
        outbox = Channel.CreateBounded<ChatEvent>(new BoundedChannelOptions(limits.OutboxCapacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
            AllowSynchronousContinuations = false,
        });
    }

    /// <summary>Connection number for logs.</summary>
    public long Id { get; } = Interlocked.Increment(ref nextId);

    /// <summary>The authenticated user.</summary>
    public string User { get; }

    /// <summary><see cref="Environment.TickCount64"/> of the last frame received.</summary>
    public long LastActivity => Volatile.Read(ref lastActivity);

    /// <summary>Why the server closed the connection, once it did.</summary>
    public string? ServerCloseReason { get; private set; }

    /// <summary>The close code the server chose, once it closed.</summary>
    public WebSocketCloseStatus? ServerCloseStatus { get; private set; }

    /// <summary>Completes when both loops have ended.</summary>
    public Task Closed => closed.Task;

    /// <inheritdoc />
    public bool TryDeliver(ChatEvent chatEvent)
    {
        if (outbox.Writer.TryWrite(chatEvent))
        {
            return true;
        }

        if (Volatile.Read(ref closing) == 0)
        {
            Close(WebSocketCloseStatus.PolicyViolation, "slow reader: outbound queue full", drain: false);
        }

        return false;
    }

    /// <summary>
    /// Closes the connection from the server side with a code and a reason. Never blocks. With <paramref name="drain"/>,
    /// frames already queued are sent first (shutdown); without, they are dropped (slow reader, protocol violation).
    /// </summary>
    public void Close(WebSocketCloseStatus status, string reason, bool drain)
    {
        if (Interlocked.Exchange(ref closing, 1) != 0)
        {
            return;
        }

        closeStatus = status;
        closeReason = reason;
        ServerCloseReason = reason;
        ServerCloseStatus = status;
        discardPending = !drain;
        outbox.Writer.TryComplete();
        _ = AbortIfStuckAsync(drain ? CloseHandshakeTimeout * 2 : CloseHandshakeTimeout / 2);
    }

    /// <summary>Runs both loops until the connection is closed. Never throws for network errors.</summary>
    public async Task RunAsync(IFrameHandler handler, CancellationToken cancellationToken)
    {
        var writer = WriteLoopAsync();
        try
        {
            await ReceiveLoopAsync(handler, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // The peer vanished or the socket was aborted: nothing to tell anyone.
        }
        finally
        {
            Volatile.Write(ref closing, 1);
            outbox.Writer.TryComplete();
            await writer.ConfigureAwait(false);
            socket.Dispose();
            closed.TrySetResult();
        }
    }

    /// <summary>Cuts the connection without a close handshake.</summary>
    public void Abort()
    {
        socket.Abort();

        // HttpListener's WebSocket does not own its TCP connection, so aborting it leaves a blocked send blocked;
        // closing the underlying connection is what wakes it.
        abortTransport?.Invoke();
    }

    private async Task ReceiveLoopAsync(IFrameHandler handler, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(limits.ReceiveBufferBytes);
        var length = 0;
        try
        {
            // Keep reading after our close frame went out (CloseSent) until the peer's close arrives: closing a
            // socket with unread input makes the kernel send a reset, and the peer would lose our close frame.
            while (socket.State is WebSocketState.Open or WebSocketState.CloseSent)
            {
                if (length == buffer.Length)
                {
                    // Grow on demand, up to the limit + 1 so an oversize message is detected, not truncated.
                    var bigger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, limits.MaxMessageBytes + 1));
                    buffer.AsSpan(0, length).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }

                // Not cancellable on purpose: cancelling a WebSocket receive aborts the socket, and shutdown must
                // close with 1001 instead. Close() ends this loop through the close handshake (or Abort after a grace).
                var result = await socket.ReceiveAsync(buffer.AsMemory(length), CancellationToken.None).ConfigureAwait(false);
                Volatile.Write(ref lastActivity, Environment.TickCount64);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    Close(WebSocketCloseStatus.NormalClosure, "", drain: false);
                    return;
                }

                length += result.Count;
                if (length > limits.MaxMessageBytes)
                {
                    Close(WebSocketCloseStatus.MessageTooBig, $"message exceeds {limits.MaxMessageBytes} bytes", drain: false);
                    return;
                }

                if (!result.EndOfMessage)
                {
                    continue;
                }

                var message = buffer.AsMemory(0, length);
                length = 0;
                if (Volatile.Read(ref closing) != 0)
                {
                    // Closing: frames that arrive now are not accepted (their senders get no acknowledgement).
                    continue;
                }

                if (result.MessageType == WebSocketMessageType.Binary)
                {
                    await handler.OnBinaryAsync(cancellationToken).ConfigureAwait(false);
                }
                else if (!Utf8.IsValid(message.Span))
                {
                    Close(WebSocketCloseStatus.InvalidPayloadData, "text frame is not valid UTF-8", drain: false);
                    return;
                }
                else
                {
                    await handler.OnTextAsync(message, cancellationToken).ConfigureAwait(false);
                }

                if (buffer.Length > limits.ReceiveBufferBytes * 4)
                {
                    // A big message passed: give its buffer back so an idle connection stays small.
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(limits.ReceiveBufferBytes);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private async Task WriteLoopAsync()
    {
        var reader = outbox.Reader;
        byte[]? joined = null;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (!discardPending && reader.TryRead(out var first))
                {
                    var bytes = first.EncodeWith(encoder);
                    if (!batch || !reader.TryPeek(out _))
                    {
                        await socket.SendAsync(bytes, WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
                        continue;
                    }

                    // Several frames are queued and the client accepts batches: one frame of newline-separated JSON.
                    var length = 0;
                    Append(ref joined, ref length, bytes.Span);
                    while (length < 64 * 1024 && reader.TryRead(out var next))
                    {
                        Append(ref joined, ref length, "\n"u8);
                        Append(ref joined, ref length, next.EncodeWith(encoder).Span);
                    }

                    await socket.SendAsync(joined.AsMemory(0, length), WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
                }

                if (discardPending)
                {
                    break;
                }
            }

            if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
            {
                using var timeout = new CancellationTokenSource(CloseHandshakeTimeout);
                await socket.CloseOutputAsync(closeStatus, closeReason, timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            Abort();
        }
        finally
        {
            if (joined is not null)
            {
                ArrayPool<byte>.Shared.Return(joined);
            }
        }
    }

    private static void Append(ref byte[]? buffer, ref int length, ReadOnlySpan<byte> bytes)
    {
        if (buffer is null || buffer.Length - length < bytes.Length)
        {
            var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(length + bytes.Length, 16 * 1024));
            buffer?.AsSpan(0, length).CopyTo(bigger);
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }

            buffer = bigger;
        }

        bytes.CopyTo(buffer.AsSpan(length));
        length += bytes.Length;
    }

    private async Task AbortIfStuckAsync(TimeSpan grace)
    {
        // A slow reader's socket may never drain enough to carry the close frame: cut it after a grace period.
        if (await Task.WhenAny(closed.Task, Task.Delay(grace)).ConfigureAwait(false) != closed.Task)
        {
            Abort();
        }
    }
}
