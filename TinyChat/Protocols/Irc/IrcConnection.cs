using System.Buffers;
using System.Net.Sockets;
using System.Text;
using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Protocols.Irc;

/// <summary>
/// One IRC client over TCP: a receive loop that hands complete lines to the protocol one at a time, and the shared
/// <see cref="ConnectionOutbox"/> (bounded queue, single writer, slow-reader policy) over a <see cref="TcpLineTransport"/>.
/// Replies and pushed events share the outbox, so they leave in the order they were queued.
/// </summary>
public sealed class IrcConnection : IOutbox
{
    private const int ReceiveBufferBytes = 16 * 1024;
    private readonly Socket socket;
    private readonly ConnectionOutbox outbox;
    private readonly IrcFrameEncoder frames;
    private readonly object gate = new();
    private IrcChannelView? view;

    /// <summary>Wraps an accepted socket; events are encoded by <paramref name="events"/> until <see cref="Attach"/> says otherwise.</summary>
    public IrcConnection(Socket socket, IEventEncoder events, int outboxCapacity, TimeProvider time)
    {
        this.socket = socket;
        frames = new IrcFrameEncoder(events);
        outbox = new ConnectionOutbox(new TcpLineTransport(socket, time), frames, outboxCapacity, time);
        var peer = (socket.RemoteEndPoint as System.Net.IPEndPoint)?.Address;
        Peer = peer is { IsIPv4MappedToIPv6: true } ? peer.MapToIPv4() : peer;
        Address = peer?.ToString() ?? "unknown";
    }

    /// <summary>The TCP peer's address (IPv4-mapped addresses as IPv4), for per-address limits; null when unknown.</summary>
    public System.Net.IPAddress? Peer { get; }

    /// <summary>The client's address.</summary>
    public string Address { get; }

    /// <summary>Why the server closed the connection, once it did.</summary>
    public string? CloseReason => outbox.CloseReason;

    /// <summary>Completes when both loops have ended.</summary>
    public Task Closed => outbox.Closed;

    /// <summary>Starts delivering chat events, rendered through <paramref name="channels"/> and encoded by <paramref name="events"/>.</summary>
    public void Attach(IrcChannelView channels, IEventEncoder events)
    {
        lock (gate)
        {
            view = channels;
            frames.Use(events);
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
            if (rendering.Shared && chatEvent is PresenceDiff)
            {
                // Now, not in the writer: a leaving user's identity (host, quit or part reason) is gone soon after.
                chatEvent.EncodeWith(frames.Events);
            }

            return rendering.Shared ? outbox.TryDeliver(chatEvent) : Send(rendering.Own ?? "");
        }
    }

    /// <summary>Queues lines for this client only (with their CR LF). False when the outbox was full.</summary>
    public bool Send(string lines) => lines.Length == 0 || outbox.TryDeliver(new Reply(Encoding.UTF8.GetBytes(lines)));

    /// <summary>Reads or changes the channel view, in step with pushed events; <paramref name="fallback"/> before registration.</summary>
    public T WithView<T>(Func<IrcChannelView, T> use, T fallback)
    {
        lock (gate)
        {
            return view is null ? fallback : use(view);
        }
    }

    /// <summary>
    /// Closes from the server side with <c>ERROR :reason</c>, after what is queued (<paramref name="drain"/>) or instead
    /// of it. Never blocks; the first close wins.
    /// </summary>
    public void Close(string reason, bool drain) => outbox.Close(drain ? 1000 : 1008, reason, drain);

    /// <inheritdoc />
    public void Disconnect(string reason) => Close(reason, drain: false);

    /// <summary>Cuts the connection without a goodbye.</summary>
    public void Abort() => outbox.Abort();

    /// <summary>
    /// Runs both loops until the connection ends. <paramref name="onLine"/> gets each line (without CR LF, decoded as
    /// UTF-8 with invalid bytes replaced) or null for a line over the length limits (discarded). Never throws for
    /// network errors.
    /// </summary>
    public async Task RunAsync(Func<string?, ValueTask> onLine, CancellationToken cancellationToken)
    {
        try
        {
            await outbox.RunAsync(async () =>
            {
                try
                {
                    await ReceiveLoopAsync(onLine, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
                {
                    // The peer vanished or the socket was cut: nothing to tell anyone.
                }
            }).ConfigureAwait(false);
        }
        finally
        {
            socket.Dispose();
            lock (gate)
            {
                view?.Close();
                view = null;
            }
        }
    }

    private async Task ReceiveLoopAsync(Func<string?, ValueTask> onLine, CancellationToken cancellationToken)
    {
        var buffer = ArrayPool<byte>.Shared.Rent(ReceiveBufferBytes);
        var length = 0;
        var discarding = false;
        try
        {
            // Reads on after a close, without handling lines, until the client closes too (or the outbox's grace
            // aborts): closing with unread input would reset the connection and lose the ERROR line.
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer.AsMemory(length), SocketFlags.None, cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    return;
                }

                length += read;
                var start = 0;
                while (!outbox.IsClosing)
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

                    if (!line.IsEmpty)
                    {
                        await onLine(Fits(line.Span) ? Encoding.UTF8.GetString(line.Span) : null).ConfigureAwait(false);
                    }
                }

                if (outbox.IsClosing)
                {
                    start = length;
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
            if (tags - 2 > IrcFormat.MaxClientTagBytes)
            {
                return false;
            }
        }

        return line.Length - tags <= IrcFormat.MaxLineBytes - 2;
    }
}
