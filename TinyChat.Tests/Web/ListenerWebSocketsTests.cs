using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using TinyChat.Protocols.Json;
using TinyChat.Tests.Support;
using TinyChat.Web;

namespace TinyChat.Tests.Web;

/// <summary>
/// <see cref="ListenerWebSockets"/> against a real <see cref="HttpListener"/> on loopback: a connection reads and writes
/// through the socket the listener's WebSocket wraps, and still ends the way the wrapper's owner expects.
/// </summary>
[TestFixture]
public sealed class ListenerWebSocketsTests
{
    private const string Wrapped = "System.Net.WebSockets.ManagedWebSocket";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Test]
    public void This_runtimes_listener_wraps_its_websockets_where_the_connection_looks()
    {
        // If .NET renames HttpWebSocket.HttpListenerWrappedWebSocket or its _inner, every read and write goes through
        // WebSocket's array adapters again (it still works); this is the test that says so.
        Assert.That(ListenerWebSockets.Supported, Is.True);
    }

    [Test]
    public async Task A_socket_that_is_not_the_listeners_wrapper_is_read_and_written_as_it_is()
    {
        await using var stream = new MemoryStream();
        using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
        Assert.That(ListenerWebSockets.MessageSocket(socket, NullLogger.Instance), Is.SameAs(socket));
    }

    [Test]
    public async Task An_accepted_websocket_is_read_and_written_through_the_socket_it_wraps_and_messages_arrive_both_ways()
    {
        using var listener = BareListener.Start(out var uri);
        using var timeout = new CancellationTokenSource(Patience);
        var (_, connection, client) = await AcceptAsync(listener, uri, timeout.Token);
        using var _ = client;
        var handler = new ReceivedFrames();
        var running = connection.RunAsync(handler, CancellationToken.None);

        for (var i = 0; i < 20; i++)
        {
            if (i == 10)
            {
                // Nothing but the connection holds the wrapper now, and its finalizer would close the listener's
                // connection: it must still be held while messages go through the socket it wraps.
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
            }

            await client.Socket.SendAsync(Encoding.UTF8.GetBytes($"c{i}"), WebSocketMessageType.Text, true, timeout.Token);
            Assert.That(await handler.NextAsync(timeout.Token), Is.EqualTo($"c{i}"));
            Assert.That(connection.TryDeliver(new Reply(Encoding.UTF8.GetBytes($"s{i}"))), Is.True);
            Assert.That(await ReceiveTextAsync(client.Socket, timeout.Token), Is.EqualTo($"s{i}"));
        }

        await client.Socket.SendAsync("{\"com"u8.ToArray(), WebSocketMessageType.Text, false, timeout.Token);
        await client.Socket.SendAsync("mand\":\"ping\"}"u8.ToArray(), WebSocketMessageType.Text, true, timeout.Token);
        Assert.That(await handler.NextAsync(timeout.Token), Is.EqualTo("{\"command\":\"ping\"}"), "fragments reassembled");
        var big = new string('x', 3000);
        await client.Socket.SendAsync(Encoding.UTF8.GetBytes(big), WebSocketMessageType.Text, true, timeout.Token);
        Assert.That(await handler.NextAsync(timeout.Token), Is.EqualTo(big), "larger than the receive buffer");
        Assert.That(connection.TryDeliver(new Reply(Encoding.UTF8.GetBytes(big))), Is.True);
        Assert.That(await ReceiveTextAsync(client.Socket, timeout.Token), Is.EqualTo(big));

        await client.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", timeout.Token);
        Assert.That(await ReceiveTextAsync(client.Socket, timeout.Token), Is.EqualTo("close 1000"), "the server answers the client's close");
        await running.WaitAsync(Patience, timeout.Token);
        Assert.That(await client.EndOfStreamAsync(timeout.Token), Is.True, "the listener's connection closed");
    }

    [Test]
    public async Task A_server_close_keeps_both_sockets_in_the_same_state_and_closes_the_listeners_connection()
    {
        using var listener = BareListener.Start(out var uri);
        using var timeout = new CancellationTokenSource(Patience);
        var (_, connection, client) = await AcceptAsync(listener, uri, timeout.Token);
        using var _ = client;
        var running = connection.RunAsync(new ReceivedFrames(), CancellationToken.None);
        Assert.That(connection.TryDeliver(new Reply("last"u8.ToArray())), Is.True);
        connection.Close(WebSocketCloseStatus.NormalClosure, "bye", drain: true);

        Assert.That(await ReceiveTextAsync(client.Socket, timeout.Token), Is.EqualTo("last"), "drained before the close");
        Assert.That(await ReceiveTextAsync(client.Socket, timeout.Token), Is.EqualTo("close 1000 bye"));
        // The socket marks the close sent once its send completes, which may be just after the client has it.
        Assert.That(SpinWait.SpinUntil(() => connection.AcceptedSocket.State != WebSocketState.Open, Patience), Is.True);
        Assert.That(connection.AcceptedSocket.State, Is.EqualTo(WebSocketState.CloseSent));
        Assert.That(connection.MessageSocket.State, Is.EqualTo(WebSocketState.CloseSent), "the wrapper reports the state of the socket it wraps");

        await client.Socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", timeout.Token);
        await running.WaitAsync(Patience, timeout.Token);
        Assert.That(connection.AcceptedSocket.State, Is.EqualTo(WebSocketState.Closed));
        Assert.That(connection.MessageSocket.State, Is.EqualTo(WebSocketState.Closed));
        Assert.That(await client.EndOfStreamAsync(timeout.Token), Is.True, "disposing the wrapper closed the listener's TCP connection");
    }

    [Test]
    public async Task A_client_that_vanishes_ends_both_loops_and_the_listeners_connection()
    {
        using var listener = BareListener.Start(out var uri);
        using var timeout = new CancellationTokenSource(Patience);
        var (context, connection, client) = await AcceptAsync(listener, uri, timeout.Token);
        using var _ = client;
        var server = ListenerSockets.Of(context);
        Assert.That(server, Is.Not.Null);
        var handler = new ReceivedFrames();
        var running = connection.RunAsync(handler, CancellationToken.None);
        await client.Socket.SendAsync("here"u8.ToArray(), WebSocketMessageType.Text, true, timeout.Token);
        Assert.That(await handler.NextAsync(timeout.Token), Is.EqualTo("here"));

        // Gone without a close frame: the kernel answers with a reset.
        client.Vanish();
        await running.WaitAsync(Patience, timeout.Token);
        Assert.That(connection.Closed.IsCompleted, Is.True);
        Assert.That(connection.MessageSocket.State, Is.EqualTo(WebSocketState.Aborted).Or.EqualTo(WebSocketState.Closed));
        Assert.That(connection.AcceptedSocket.State, Is.EqualTo(connection.MessageSocket.State));
        Assert.That(server!.SafeHandle.IsClosed, Is.True, "the listener's connection closed");
    }

    // A real upgrade over a TCP socket of the test's own, so that the test sees the server's TCP connection end.
    private static async Task<(HttpListenerContext Context, WebSocketConnection Connection, RawClient Client)> AcceptAsync(HttpListener listener, Uri uri, CancellationToken cancellationToken)
    {
        var tcp = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await tcp.ConnectAsync(IPAddress.Loopback, uri.Port, cancellationToken);
        await tcp.SendAsync(Encoding.ASCII.GetBytes(
            $"GET /chat HTTP/1.1\r\nHost: {uri.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"), cancellationToken);
        var context = await listener.GetContextAsync().WaitAsync(Patience, cancellationToken);
        var connection = await ListenerWebSockets.AcceptAsync(
            context, null, TimeSpan.Zero, new JsonFrameEncoder(batch: false), new ConnectionLimits(8192, 64, 1024), "bar", TimeProvider.System, NullLogger.Instance);
        var head = await ReadHeadAsync(tcp, cancellationToken);
        Assert.That(head, Does.StartWith("HTTP/1.1 101"));

        // What every test here is about: without it, they would test the wrapper's adapters instead.
        Assert.That(connection.MessageSocket.GetType().FullName, Is.EqualTo(Wrapped), "read and written through the socket the listener's WebSocket wraps");
        Assert.That(connection.MessageSocket, Is.Not.SameAs(connection.AcceptedSocket));
        var socket = WebSocket.CreateFromStream(new NetworkStream(tcp, ownsSocket: false), new WebSocketCreationOptions { IsServer = false, KeepAliveInterval = TimeSpan.Zero });
        return (context, connection, new RawClient(tcp, socket));
    }

    private static async Task<string> ReadHeadAsync(Socket tcp, CancellationToken cancellationToken)
    {
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 4096 && !(head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            Assert.That(await tcp.ReceiveAsync(one, cancellationToken), Is.EqualTo(1), "the upgrade's response head");
            head.Add(one[0]);
        }

        return Encoding.ASCII.GetString([.. head]);
    }

    private static async Task<string> ReceiveTextAsync(WebSocket socket, CancellationToken cancellationToken)
    {
        var buffer = new byte[16 * 1024];
        var length = 0;
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken);
            length += result.Count;
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return $"close {(int?)socket.CloseStatus} {socket.CloseStatusDescription}".TrimEnd();
            }

            if (result.EndOfMessage)
            {
                return Encoding.UTF8.GetString(buffer, 0, length);
            }
        }
    }

    private sealed class RawClient(Socket tcp, WebSocket socket) : IDisposable
    {
        public WebSocket Socket { get; } = socket;

        // After the close handshake: the next read of the TCP connection itself finds its end.
        public async Task<bool> EndOfStreamAsync(CancellationToken cancellationToken) =>
            await tcp.ReceiveAsync(new byte[64], cancellationToken) == 0;

        public void Vanish()
        {
            tcp.LingerState = new LingerOption(true, 0);
            tcp.Close();
        }

        public void Dispose()
        {
            Socket.Dispose();
            tcp.Dispose();
        }
    }
}
