using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using System.Threading.Channels;

namespace TinyChat.Bench.Targets;

/// <summary>
/// The trivial in-process server the bench measures itself against: a hand-made WebSocket upgrade over a
/// <see cref="TcpListener"/>, then join and broadcast with no JSON parsing (the received frame is sent as is, queued frames batched).
/// It shares the bench's CPU, so what the bench reaches against it is a lower bound of the bench's own ceiling.
/// </summary>
public sealed class SinkServer : IAsyncDisposable
{
    private const int QueueCapacity = 4096;
    private const int MaxHandshakeBytes = 8192;
    private static readonly byte[] JoinMarker = "\"command\":\"join\""u8.ToArray();
    private static readonly byte[] RoomMarker = "\"room\":\""u8.ToArray();
    private readonly TcpListener listener;
    private readonly CancellationTokenSource stopping = new();
    private readonly ConcurrentDictionary<string, SinkRoom> rooms = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<Task, bool> connections = new();
    private Task? acceptLoop;

    private SinkServer(TcpListener listener) => this.listener = listener;

    /// <summary>The port on 127.0.0.1.</summary>
    public int Port => ((IPEndPoint)listener.LocalEndpoint).Port;

    /// <summary>Starts listening on a free port.</summary>
    public static SinkServer Start()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start(4096);
        var sink = new SinkServer(listener);
        sink.acceptLoop = sink.AcceptLoopAsync();
        return sink;
    }

    private async Task AcceptLoopAsync()
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listener.AcceptSocketAsync(stopping.Token).ConfigureAwait(false);
            }
            catch (SocketException) when (!stopping.IsCancellationRequested)
            {
                // Out of file descriptors, or a connection reset before it was accepted: keep accepting.
                await Task.Delay(10, CancellationToken.None).ConfigureAwait(false);
                continue;
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            socket.NoDelay = true;
            var connection = ServeAsync(socket);
            connections[connection] = true;
            _ = connection.ContinueWith(t => connections.TryRemove(t, out _), TaskScheduler.Default);
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: true);
        try
        {
            if (!await HandshakeAsync(stream, stopping.Token).ConfigureAwait(false))
            {
                return;
            }

            using var webSocket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
            var outbox = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
            var writer = WriteLoopAsync(webSocket, outbox.Reader);
            var joined = new List<SinkRoom>();
            try
            {
                await ReadLoopAsync(webSocket, outbox.Writer, joined, stopping.Token).ConfigureAwait(false);
            }
            finally
            {
                foreach (var room in joined)
                {
                    room.Remove(outbox.Writer);
                }

                outbox.Writer.TryComplete();
                await writer.ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or WebSocketException or OperationCanceledException or ObjectDisposedException or ChannelClosedException)
        {
        }
    }

    private async Task ReadLoopAsync(WebSocket webSocket, ChannelWriter<byte[]> outbox, List<SinkRoom> joined, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        while (!cancellationToken.IsCancellationRequested)
        {
            var length = 0;
            ValueWebSocketReceiveResult result;
            do
            {
                if (length == buffer.Length)
                {
                    Array.Resize(ref buffer, buffer.Length * 2);
                }

                result = await webSocket.ReceiveAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
                length += result.Count;
            }
            while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

            if (result.MessageType == WebSocketMessageType.Close)
            {
                return;
            }

            var frame = buffer.AsSpan(0, length);
            var name = RoomOf(frame);
            if (name is null)
            {
                continue;
            }

            var room = rooms.GetOrAdd(name, _ => new SinkRoom());
            if (frame.IndexOf(JoinMarker) >= 0)
            {
                room.Add(outbox);
                joined.Add(room);
                await outbox.WriteAsync(Encoding.UTF8.GetBytes($"{{\"room\":\"{name}\",\"message\":\"welcome\"}}"), cancellationToken).ConfigureAwait(false);
                continue;
            }

            var bytes = frame.ToArray();
            foreach (var member in room.Members)
            {
                if (!member.TryWrite(bytes))
                {
                    try
                    {
                        await member.WriteAsync(bytes, cancellationToken).ConfigureAwait(false);
                    }
                    catch (ChannelClosedException)
                    {
                        // That member left mid-broadcast.
                    }
                }
            }
        }
    }

    private static async Task WriteLoopAsync(WebSocket webSocket, ChannelReader<byte[]> outbox)
    {
        // Frames already queued go out together, newline-separated (the bench's clients accept batches),
        // so the sink spends as little as possible per delivery.
        var batch = new byte[64 * 1024];
        try
        {
            while (await outbox.WaitToReadAsync().ConfigureAwait(false))
            {
                while (outbox.TryRead(out var first))
                {
                    if (!outbox.TryPeek(out var peeked) || first.Length + 1 + peeked.Length > batch.Length)
                    {
                        await webSocket.SendAsync(first, WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
                        continue;
                    }

                    first.CopyTo(batch, 0);
                    var length = first.Length;
                    while (outbox.TryPeek(out var next) && length + 1 + next.Length <= batch.Length && outbox.TryRead(out next))
                    {
                        batch[length++] = (byte)'\n';
                        next.CopyTo(batch, length);
                        length += next.Length;
                    }

                    await webSocket.SendAsync(batch.AsMemory(0, length), WebSocketMessageType.Text, true, CancellationToken.None).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or WebSocketException or ObjectDisposedException)
        {
            webSocket.Abort();
        }
    }

    private static string? RoomOf(ReadOnlySpan<byte> frame)
    {
        var at = frame.IndexOf(RoomMarker);
        if (at < 0)
        {
            return null;
        }

        var rest = frame[(at + RoomMarker.Length)..];
        var end = rest.IndexOf((byte)'"');
        return end < 0 ? null : Encoding.UTF8.GetString(rest[..end]);
    }

    private static async Task<bool> HandshakeAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxHandshakeBytes];
        var length = 0;
        while (length < buffer.Length)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                return false;
            }

            length += read;
            if (buffer.AsSpan(0, length).IndexOf("\r\n\r\n"u8) >= 0)
            {
                break;
            }
        }

        string? key = null;
        foreach (var line in Encoding.ASCII.GetString(buffer, 0, length).Split("\r\n"))
        {
            if (line.StartsWith("Sec-WebSocket-Key:", StringComparison.OrdinalIgnoreCase))
            {
                key = line["Sec-WebSocket-Key:".Length..].Trim();
            }
        }

        if (key is null)
        {
            await stream.WriteAsync("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
            return false;
        }

        var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
        var response = $"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(response), cancellationToken).ConfigureAwait(false);
        return true;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync().ConfigureAwait(false);
        listener.Stop();
        if (acceptLoop is not null)
        {
            await acceptLoop.ConfigureAwait(false);
        }

        try
        {
            await Task.WhenAll(connections.Keys).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }

        stopping.Dispose();
    }

    /// <summary>A room of the sink: members' outboxes with a snapshot array rebuilt after joins.</summary>
    private sealed class SinkRoom
    {
        private readonly Lock gate = new();
        private readonly HashSet<ChannelWriter<byte[]>> set = [];
        private ChannelWriter<byte[]>[]? snapshot = [];

        public ChannelWriter<byte[]>[] Members
        {
            get
            {
                var current = Volatile.Read(ref snapshot);
                if (current is not null)
                {
                    return current;
                }

                lock (gate)
                {
                    return snapshot ??= [.. set];
                }
            }
        }

        public void Add(ChannelWriter<byte[]> member)
        {
            lock (gate)
            {
                set.Add(member);
                snapshot = null;
            }
        }

        public void Remove(ChannelWriter<byte[]> member)
        {
            lock (gate)
            {
                set.Remove(member);
                snapshot = null;
            }
        }
    }
}
