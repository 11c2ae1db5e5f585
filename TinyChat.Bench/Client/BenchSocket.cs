using System.Diagnostics;
using System.Net.WebSockets;
using System.Text;

namespace TinyChat.Bench.Client;

/// <summary>What a receive loop does with each JSON line (a frame holds one, or several separated by "\n" when batched).</summary>
public interface ILineHandler
{
    /// <summary>One JSON object; <paramref name="receivedAt"/> is the <see cref="Stopwatch"/> timestamp of its frame.</summary>
    void OnLine(ReadOnlySpan<byte> line, long receivedAt);
}

/// <summary>One client WebSocket of the load generator: one sender and one receiver at a time, as ClientWebSocket allows.</summary>
public sealed class BenchSocket : IAsyncDisposable
{
    private const int MaxFrameBytes = 4 * 1024 * 1024;
    private const long MaxFramesPerLoop = 1_000_000_000;
    private const int MaxSetupLines = 100_000;
    private readonly ClientWebSocket socket;
    private byte[] buffer = new byte[8 * 1024];

    private BenchSocket(ClientWebSocket socket, int index)
    {
        this.socket = socket;
        Index = index;
    }

    /// <summary>Connection number within its measurement.</summary>
    public int Index { get; }

    /// <summary>Whether the WebSocket is still open (neither side closed or aborted it).</summary>
    public bool IsOpen => socket.State == WebSocketState.Open;

    /// <summary>The close status the server sent, once it closed.</summary>
    public WebSocketCloseStatus? CloseStatus { get; private set; }

    /// <summary>The close reason the server sent, once it closed.</summary>
    public string? CloseReason { get; private set; }

    /// <summary>Frames received by <see cref="ReceiveLoopAsync"/>.</summary>
    public long Frames { get; private set; }

    /// <summary>Opens the WebSocket through <paramref name="invoker"/> (which picks the source address).</summary>
    public static async Task<BenchSocket> ConnectAsync(Uri uri, HttpMessageInvoker invoker, int index, CancellationToken cancellationToken)
    {
        var socket = new ClientWebSocket();
        socket.Options.KeepAliveInterval = TimeSpan.Zero;
        try
        {
            await socket.ConnectAsync(uri, invoker, cancellationToken).ConfigureAwait(false);
            return new BenchSocket(socket, index);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Sends one text frame. Only one send may be in progress per socket.</summary>
    public ValueTask SendAsync(ReadOnlyMemory<byte> utf8, CancellationToken cancellationToken) =>
        socket.SendAsync(utf8, WebSocketMessageType.Text, true, cancellationToken);

    /// <summary>Sends a frame and reads lines until <paramref name="isReply"/> accepts one (set-up only: create, join).</summary>
    public async Task<string> RequestAsync(string frame, Func<string, bool> isReply, CancellationToken cancellationToken)
    {
        await SendAsync(Encoding.UTF8.GetBytes(frame), cancellationToken).ConfigureAwait(false);
        for (var seen = 0; seen < MaxSetupLines; seen++)
        {
            var length = await ReceiveFrameAsync(cancellationToken).ConfigureAwait(false);
            if (length < 0)
            {
                throw new WebSocketException($"closed during set-up: {CloseStatus} {CloseReason}");
            }

            foreach (var line in Encoding.UTF8.GetString(buffer, 0, length).Split('\n'))
            {
                if (isReply(line))
                {
                    return line;
                }
            }
        }

        throw new InvalidOperationException($"no reply to {frame} within {MaxSetupLines} lines");
    }

    /// <summary>Receives frames and hands their lines to <paramref name="handler"/> until the server closes or time is up.</summary>
    public async Task ReceiveLoopAsync(ILineHandler handler, CancellationToken cancellationToken)
    {
        try
        {
            for (long frame = 0; frame < MaxFramesPerLoop && !cancellationToken.IsCancellationRequested; frame++)
            {
                var length = await ReceiveFrameAsync(cancellationToken).ConfigureAwait(false);
                if (length < 0)
                {
                    return;
                }

                Frames++;
                var now = Stopwatch.GetTimestamp();
                var rest = buffer.AsSpan(0, length);
                while (true)
                {
                    var newline = rest.IndexOf((byte)'\n');
                    if (newline < 0)
                    {
                        handler.OnLine(rest, now);
                        break;
                    }

                    handler.OnLine(rest[..newline], now);
                    rest = rest[(newline + 1)..];
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException or ObjectDisposedException)
        {
            // Time is up, or the connection went away: the caller counts what arrived.
        }
    }

    /// <summary>Reads and discards frames until the server closes the connection or time is up; the number of frames read.</summary>
    public async Task<long> DrainAsync(CancellationToken cancellationToken)
    {
        long frames = 0;
        try
        {
            for (; frames < MaxFramesPerLoop; frames++)
            {
                if (await ReceiveFrameAsync(cancellationToken).ConfigureAwait(false) < 0)
                {
                    break;
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException or ObjectDisposedException)
        {
        }

        return frames;
    }

    /// <summary>One whole message into <see cref="buffer"/>; its length, or -1 when the server closed.</summary>
    private async ValueTask<int> ReceiveFrameAsync(CancellationToken cancellationToken)
    {
        var length = 0;
        while (true)
        {
            if (length == buffer.Length)
            {
                if (buffer.Length >= MaxFrameBytes)
                {
                    throw new WebSocketException($"frame larger than {MaxFrameBytes} bytes");
                }

                Array.Resize(ref buffer, buffer.Length * 2);
            }

            var result = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
            if (result.MessageType == WebSocketMessageType.Close)
            {
                CloseStatus = socket.CloseStatus;
                CloseReason = socket.CloseStatusDescription;
                return -1;
            }

            length += result.Count;
            if (result.EndOfMessage)
            {
                return length;
            }
        }
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync()
    {
        // No close handshake: tens of thousands of sockets go at once, and every server under test copes with a reset.
        socket.Abort();
        socket.Dispose();
        return ValueTask.CompletedTask;
    }
}
