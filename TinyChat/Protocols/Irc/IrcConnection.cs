using System.Buffers;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using TinyChat.Chat;

namespace TinyChat.Protocols.Irc;

/// <summary>
/// One IRC client over TCP: a receive loop that hands complete lines to the protocol one at a time, and the
/// connection's bounded outbox with its single writer loop. Replies and pushed events share the outbox, so they
/// leave in the order they were queued; a full outbox closes the connection as a slow reader, nobody waits.
/// </summary>
public sealed class IrcConnection : IOutbox
{
    private const int ReceiveBufferBytes = 16 * 1024;
    private static readonly TimeSpan CloseGrace = TimeSpan.FromSeconds(2);
    private readonly Socket socket;
    private readonly NetworkStream stream;
    private readonly Channel<Outbound> outbox;
    private readonly TimeProvider time;
    private readonly object gate = new();
    private readonly TaskCompletionSource closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private IrcChannelView? view;
    private IEventEncoder? encoder;
    private int closing;
    private volatile bool discardPending;

    /// <summary>Wraps an accepted socket.</summary>
    public IrcConnection(Socket socket, int outboxCapacity, TimeProvider time)
    {
        this.socket = socket;
        this.time = time;
        stream = new NetworkStream(socket, ownsSocket: true);
        outbox = Channel.CreateBounded<Outbound>(new BoundedChannelOptions(outboxCapacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
            AllowSynchronousContinuations = false,
        });
        Address = (socket.RemoteEndPoint as System.Net.IPEndPoint)?.Address.ToString() ?? "unknown";
    }

    /// <summary>The client's address.</summary>
    public string Address { get; }

    /// <summary>Why the server closed the connection, once it did.</summary>
    public string? CloseReason { get; private set; }

    /// <summary>Completes when both loops have ended.</summary>
    public Task Closed => closed.Task;

    /// <summary>Starts delivering chat events, rendered through <paramref name="channels"/> and encoded by <paramref name="events"/>.</summary>
    public void Attach(IrcChannelView channels, IEventEncoder events)
    {
        lock (gate)
        {
            view = channels;
            encoder = events;
        }
    }

    /// <inheritdoc />
    public bool TryDeliver(ChatEvent chatEvent)
    {
        // Rooms deliver from their own loops: rendering and queueing under one lock keeps the view and the queue in step.
        lock (gate)
        {
            if (view is null)
            {
                return true;
            }

            var rendering = view.Render(chatEvent);
            return rendering.Shared ? TryQueue(new Outbound(chatEvent, default))
                : string.IsNullOrEmpty(rendering.Own) || TryQueue(new Outbound(null, Encoding.UTF8.GetBytes(rendering.Own)));
        }
    }

    /// <summary>Queues lines for this client only (with their CR LF). False when the outbox was full.</summary>
    public bool Send(string lines) => lines.Length == 0 || TryQueue(new Outbound(null, Encoding.UTF8.GetBytes(lines)));

    /// <summary>Queues lines built from the channel view, in step with pushed events.</summary>
    public bool Send(Func<IrcChannelView, string> lines)
    {
        lock (gate)
        {
            return view is null || Send(lines(view));
        }
    }

    /// <summary>Reads or changes the channel view, in step with pushed events; <paramref name="fallback"/> before registration.</summary>
    public T WithView<T>(Func<IrcChannelView, T> use, T fallback)
    {
        lock (gate)
        {
            return view is null ? fallback : use(view);
        }
    }

    /// <summary>
    /// Closes from the server side: sends <c>ERROR :reason</c> after what is queued (or instead of it, when
    /// <paramref name="drain"/> is false), then ends the connection. Never blocks; the first close wins.
    /// </summary>
    public void Close(string reason, bool drain)
    {
        if (Interlocked.Exchange(ref closing, 1) != 0)
        {
            return;
        }

        CloseReason = reason;
        discardPending = !drain;
        var error = new Outbound(null, Encoding.UTF8.GetBytes(IrcFormat.Line(null, "ERROR", reason)));
        if (!drain || !outbox.Writer.TryWrite(error))
        {
            lastWords = error.Bytes;
        }

        outbox.Writer.TryComplete();
        _ = AbortIfStuckAsync();
    }

    private ReadOnlyMemory<byte> lastWords;

    /// <summary>Cuts the connection without a goodbye.</summary>
    public void Abort()
    {
        try
        {
            socket.Close(0);
        }
        catch (ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// Runs both loops until the connection ends. <paramref name="onLine"/> gets each line (without CR LF, decoded as
    /// UTF-8 with invalid bytes replaced) or null for a line over the length limits (discarded). Never throws for
    /// network errors.
    /// </summary>
    public async Task RunAsync(Func<string?, ValueTask> onLine, CancellationToken cancellationToken)
    {
        var writer = WriteLoopAsync();
        try
        {
            await ReceiveLoopAsync(onLine, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The peer vanished or the socket was cut: nothing to tell anyone.
        }
        finally
        {
            if (Interlocked.Exchange(ref closing, 1) == 0)
            {
                discardPending = true;
            }

            outbox.Writer.TryComplete();
            await writer.ConfigureAwait(false);
            await stream.DisposeAsync().ConfigureAwait(false);
            closed.TrySetResult();
        }
    }

    private async Task ReceiveLoopAsync(Func<string?, ValueTask> onLine, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReceiveBufferBytes);
        var length = 0;
        var discarding = false;
        try
        {
            while (Volatile.Read(ref closing) == 0)
            {
                var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                length += read;
                var start = 0;
                while (Volatile.Read(ref closing) == 0)
                {
                    var newline = buffer.AsSpan(start, length - start).IndexOf((byte)'\n');
                    if (newline < 0)
                    {
                        break;
                    }

                    var line = buffer.AsMemory(start, newline);
                    start += newline + 1;
                    if (discarding)
                    {
                        discarding = false;
                        await onLine(null).ConfigureAwait(false);
                        continue;
                    }

                    if (!line.IsEmpty && line.Span[^1] == (byte)'\r')
                    {
                        line = line[..^1];
                    }

                    if (line.IsEmpty)
                    {
                        continue;
                    }

                    await onLine(Fits(line.Span) ? Encoding.UTF8.GetString(line.Span) : null).ConfigureAwait(false);
                }

                buffer.AsSpan(start, length - start).CopyTo(buffer);
                length -= start;
                if (length == buffer.Length)
                {
                    // No line ends in a full buffer: it is over every limit; drop it up to its end.
                    discarding = true;
                    length = 0;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    // 512 bytes with CR LF for the message, plus up to 8191 bytes of tags (IRCv3).
    private static bool Fits(ReadOnlySpan<byte> line)
    {
        var tags = 0;
        if (line[0] == (byte)'@')
        {
            var space = line.IndexOf((byte)' ');
            tags = space < 0 ? line.Length : space + 1;
            if (tags > IrcFormat.MaxClientTagBytes)
            {
                return false;
            }
        }

        return line.Length - tags <= IrcFormat.MaxLineBytes - 2;
    }

    private bool TryQueue(Outbound item)
    {
        if (outbox.Writer.TryWrite(item))
        {
            return true;
        }

        if (Volatile.Read(ref closing) == 0)
        {
            Close("Closing link: slow reader (outbound queue full)", drain: false);
        }

        return false;
    }

    private async Task WriteLoopAsync()
    {
        var reader = outbox.Reader;
        var joined = new ArrayBufferWriter<byte>(4096);
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                // Whatever queued up while the last write was in flight goes out in one write.
                joined.ResetWrittenCount();
                while (!discardPending && joined.WrittenCount < 64 * 1024 && reader.TryRead(out var item))
                {
                    joined.Write(item.Event is { } chatEvent ? chatEvent.EncodeWith(encoder!).Span : item.Bytes.Span);
                }

                if (discardPending)
                {
                    break;
                }

                if (joined.WrittenCount > 0)
                {
                    await stream.WriteAsync(joined.WrittenMemory).ConfigureAwait(false);
                }
            }

            if (!lastWords.IsEmpty)
            {
                using var timeout = new CancellationTokenSource(CloseGrace, time);
                await stream.WriteAsync(lastWords, timeout.Token).ConfigureAwait(false);
            }

            // Our half only: the receive loop ends when the peer closes its side (or the grace runs out).
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            Abort();
        }
    }

    private async Task AbortIfStuckAsync()
    {
        // A peer that neither reads nor closes: cut it after a grace period.
        var grace = Task.Delay(CloseGrace * 2, time);
        if (await Task.WhenAny(closed.Task, grace).ConfigureAwait(false) != closed.Task)
        {
            Abort();
        }
    }

    private readonly record struct Outbound(ChatEvent? Event, ReadOnlyMemory<byte> Bytes);
}
