using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;

namespace TinyChat.Tests.Support;

/// <summary>A test client of the native protocol: sends JSON, receives frames into a queue, awaits them with timeouts.</summary>
public sealed class ChatSocket : IAsyncDisposable
{
    /// <summary>How long any expectation waits before failing.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly Channel<JsonElement> frames = Channel.CreateUnbounded<JsonElement>();
    private readonly Task receiving;

    private ChatSocket(ClientWebSocket socket)
    {
        Socket = socket;
        receiving = ReceiveLoopAsync();
    }

    /// <summary>The underlying socket.</summary>
    public ClientWebSocket Socket { get; }

    /// <summary>Close status the server sent, once the socket closed.</summary>
    public WebSocketCloseStatus? CloseStatus => Socket.CloseStatus;

    /// <summary>Close reason the server sent.</summary>
    public string? CloseDescription => Socket.CloseStatusDescription;

    /// <summary>Completes when the server closed the socket (or it broke).</summary>
    public Task Closed => receiving;

    /// <summary>Connects to a ws:// URI.</summary>
    public static async Task<ChatSocket> ConnectAsync(Uri uri, Action<ClientWebSocketOptions>? configure = null)
    {
        var socket = new ClientWebSocket();
        configure?.Invoke(socket.Options);
        using var timeout = new CancellationTokenSource(DefaultTimeout);
        await socket.ConnectAsync(uri, timeout.Token);
        return new ChatSocket(socket);
    }

    /// <summary>Sends an object serialized as JSON.</summary>
    public Task SendAsync(object frame) => SendTextAsync(JsonSerializer.Serialize(frame));

    /// <summary>Sends raw text.</summary>
    public async Task SendTextAsync(string text)
    {
        using var timeout = new CancellationTokenSource(DefaultTimeout);
        await Socket.SendAsync(Encoding.UTF8.GetBytes(text), WebSocketMessageType.Text, true, timeout.Token);
    }

    /// <summary>The next frame.</summary>
    public async Task<JsonElement> ReceiveAsync(TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            return await frames.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("no frame arrived in time");
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException($"socket closed ({CloseStatus} {CloseDescription}) before a frame arrived");
        }
    }

    /// <summary>Skips frames until one matches; fails after the timeout.</summary>
    public async Task<JsonElement> ExpectAsync(Func<JsonElement, bool> match, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? DefaultTimeout);
        while (true)
        {
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
            {
                throw new TimeoutException("no matching frame arrived in time");
            }

            var frame = await ReceiveAsync(left);
            if (match(frame))
            {
                return frame;
            }
        }
    }

    /// <summary>Sends a frame and awaits the reply that carries its ref.</summary>
    public async Task<JsonElement> RequestAsync(Dictionary<string, object?> frame)
    {
        var reference = Guid.NewGuid().ToString("N");
        frame["ref"] = reference;
        await SendAsync(frame);
        return await ExpectAsync(f => f.TryGetProperty("ref", out var r) && r.ValueKind == JsonValueKind.String && r.GetString() == reference);
    }

    /// <summary>Whether no frame is queued right now (after the caller has synchronised with a later reply).</summary>
    public bool TryPeekPending(out JsonElement frame) => frames.Reader.TryPeek(out frame);

    /// <summary>
    /// Takes every frame received and not yet read, without waiting: after <see cref="WaitClosedAsync"/> that is
    /// everything the server sent. (A receive with a short timeout would not do: under load its timer can fire before
    /// it looks, and it would report nothing while frames wait.)
    /// </summary>
    public List<JsonElement> TakeQueued()
    {
        var taken = new List<JsonElement>();
        while (frames.Reader.TryRead(out var frame))
        {
            taken.Add(frame);
        }

        return taken;
    }

    /// <summary>Awaits the server's close; fails after the timeout.</summary>
    public async Task WaitClosedAsync(TimeSpan? timeout = null) => await receiving.WaitAsync(timeout ?? DefaultTimeout);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (Socket.State == WebSocketState.Open)
            {
                // Only our close frame: CloseAsync would also receive until the server's close, beside the receive
                // loop, and the two would split a message between them (a frame starting mid-text).
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                await Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", timeout.Token);
            }
        }
        catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or InvalidOperationException)
        {
        }

        // The receive loop reads on until the server's close frame ends the handshake; then the socket may go.
        await Task.WhenAny(receiving, Task.Delay(TimeSpan.FromSeconds(5)));
        Socket.Dispose();
        await receiving.WaitAsync(TimeSpan.FromSeconds(5));
    }

    private async Task ReceiveLoopAsync()
    {
        var buffer = new byte[1 << 20];
        try
        {
            while (true)
            {
                var length = 0;
                WebSocketReceiveResult result;
                do
                {
                    result = await Socket.ReceiveAsync(new ArraySegment<byte>(buffer, length, buffer.Length - length), CancellationToken.None);
                    length += result.Count;
                }
                while (!result.EndOfMessage && result.MessageType != WebSocketMessageType.Close);

                if (result.MessageType == WebSocketMessageType.Close)
                {
                    // Answer the close handshake as browsers do, unless our own close already completed it.
                    if (Socket.State == WebSocketState.CloseReceived)
                    {
                        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
                        await Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
                    }

                    return;
                }

                // A batched frame holds several JSON objects separated by newlines.
                foreach (var line in Encoding.UTF8.GetString(buffer, 0, length).Split('\n'))
                {
                    frames.Writer.TryWrite(JsonDocument.Parse(line).RootElement.Clone());
                }
            }
        }
        catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
            // The socket broke, or was closed or disposed under a pending call: either way the stream of frames ends.
        }
        finally
        {
            frames.Writer.TryComplete();
        }
    }
}
