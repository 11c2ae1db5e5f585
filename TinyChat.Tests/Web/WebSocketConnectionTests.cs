using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using TinyChat.Chat;
using TinyChat.Protocols.Json;
using TinyChat.Tests.Support;
using TinyChat.Web;

namespace TinyChat.Tests.Web;

/// <summary>A <see cref="WebSocketConnection"/> (receive loop + outbox + WebSocket transport) against a client socket over loopback TCP.</summary>
[TestFixture]
public sealed class WebSocketConnectionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static RoomMessage Message(int id) => new("lobby", "foo", $"m{id}", id, DateTimeOffset.UnixEpoch);

    private static async Task<(WebSocket Server, WebSocket Client, IDisposable Sockets)> PairAsync()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var client = new TcpClient();
        var connecting = client.ConnectAsync(IPAddress.Loopback, ((IPEndPoint)listener.LocalEndpoint).Port);
        var accepted = await listener.AcceptTcpClientAsync().WaitAsync(Patience);
        await connecting.WaitAsync(Patience);
        var server = WebSocket.CreateFromStream(accepted.GetStream(), new WebSocketCreationOptions { IsServer = true });
        var peer = WebSocket.CreateFromStream(client.GetStream(), new WebSocketCreationOptions { IsServer = false });
        return (server, peer, new Both(accepted, client));
    }

    private static async Task<string> ReceiveTextAsync(WebSocket socket)
    {
        var buffer = new byte[256 * 1024];
        var length = 0;
        using var timeout = new CancellationTokenSource(Patience);
        while (true)
        {
            var result = await socket.ReceiveAsync(buffer.AsMemory(length), timeout.Token);
            length += result.Count;
            if (result.MessageType == WebSocketMessageType.Close)
            {
                return $"close {(int?)socket.CloseStatus} {socket.CloseStatusDescription}";
            }

            if (result.EndOfMessage)
            {
                return Encoding.UTF8.GetString(buffer, 0, length);
            }
        }
    }

    [Test]
    public async Task Events_queued_together_reach_a_batching_client_as_one_newline_joined_message_and_a_drained_close_follows()
    {
        var (server, client, sockets) = await PairAsync();
        using var _ = sockets;
        var connection = new WebSocketConnection(server, new JsonFrameEncoder(batch: true), new ConnectionLimits(4096, 16, 1024), "bar");
        Assert.That(connection.TryDeliver(Message(1)), Is.True);
        Assert.That(connection.TryDeliver(new Reply("{\"pong\":true}"u8.ToArray())), Is.True);
        Assert.That(connection.TryDeliver(Message(2)), Is.True);
        connection.Close(WebSocketCloseStatus.EndpointUnavailable, "server shutting down", drain: true);

        var running = connection.RunAsync(new ReceivedFrames(), CancellationToken.None);
        var first = await ReceiveTextAsync(client);
        var lines = first.Split('\n');
        Assert.That(lines, Has.Length.EqualTo(3));
        Assert.That(lines[0], Does.Contain("\"message\":\"m1\""));
        Assert.That(lines[1], Is.EqualTo("{\"pong\":true}"));
        Assert.That(lines[2], Does.Contain("\"message\":\"m2\""));
        Assert.That(await ReceiveTextAsync(client), Is.EqualTo("close 1001 server shutting down"));

        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        await running.WaitAsync(Patience);
        Assert.That(connection.Closed.IsCompleted, Is.True);
        Assert.That(connection.ServerCloseStatus, Is.EqualTo(WebSocketCloseStatus.EndpointUnavailable));
    }

    [Test]
    public void A_rooms_batch_reaches_the_outbox_as_one_item_not_event_by_event()
    {
        // The interface's default queues event by event: a queue write and a writer wake-up per message, and a writer
        // that may wake on the first and race the rest. A room hands each connection its batch through this call.
        var map = typeof(WebSocketConnection).GetInterfaceMap(typeof(IOutbox));
        var batch = map.TargetMethods[Array.FindIndex(map.InterfaceMethods, m => m.Name == nameof(IOutbox.TryDeliverBatch))];
        Assert.That(batch.DeclaringType, Is.EqualTo(typeof(WebSocketConnection)));
    }

    [Test]
    public async Task A_room_batch_reaches_a_batch_2_client_as_one_group_framed_once_for_every_connection()
    {
        var (server, client, sockets) = await PairAsync();
        using var _ = sockets;
        var connection = new WebSocketConnection(server, new JsonFrameEncoder(JsonFraming.Groups), new ConnectionLimits(4096, 16, 1024), "bar");
        Assert.That(connection.TryDeliverBatch(new EventBatch([Message(1), Message(2), Message(3)])), Is.True);
        var running = connection.RunAsync(new ReceivedFrames(), CancellationToken.None);
        Assert.That(await ReceiveTextAsync(client), Is.EqualTo("{\"room\":\"lobby\",\"id\":1,\"ts\":0,\"messages\":[[\"foo\",\"m1\"],[\"foo\",\"m2\"],[\"foo\",\"m3\"]]}"));
        connection.Close(WebSocketCloseStatus.NormalClosure, "", drain: true);
        Assert.That(await ReceiveTextAsync(client), Is.EqualTo("close 1000 "));
        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        await running.WaitAsync(Patience);
    }

    [Test]
    public async Task Text_from_the_client_reaches_the_handler_and_stamps_activity_on_the_connection_clock()
    {
        var clock = new ManualClock();
        var (server, client, sockets) = await PairAsync();
        using var _ = sockets;
        var connection = new WebSocketConnection(server, new JsonFrameEncoder(batch: false), new ConnectionLimits(4096, 16, 1024), "bar", clock);
        var handler = new ReceivedFrames();
        var running = connection.RunAsync(handler, CancellationToken.None);
        var opened = connection.LastActivity;

        clock.Advance(TimeSpan.FromSeconds(30));
        await client.SendAsync("{\"command\":\"ping\"}"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        Assert.That(await handler.NextAsync(), Is.EqualTo("{\"command\":\"ping\"}"));
        Assert.That(clock.GetElapsedTime(opened, connection.LastActivity), Is.EqualTo(TimeSpan.FromSeconds(30)));

        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", CancellationToken.None);
        Assert.That(await ReceiveTextAsync(client), Is.EqualTo("close 1000 "), "the server answers the client's close");
        await running.WaitAsync(Patience);
    }

    [Test]
    public async Task An_oversized_message_closes_the_connection_with_1009_and_nothing_queued_follows()
    {
        var (server, client, sockets) = await PairAsync();
        using var _ = sockets;
        var connection = new WebSocketConnection(server, new JsonFrameEncoder(batch: false), new ConnectionLimits(100, 16, 64), "bar");
        var running = connection.RunAsync(new ReceivedFrames(), CancellationToken.None);

        await client.SendAsync(new byte[101], WebSocketMessageType.Text, true, CancellationToken.None);
        Assert.That(await ReceiveTextAsync(client), Is.EqualTo("close 1009 message exceeds 100 bytes"));
        Assert.That(connection.TryDeliver(Message(1)), Is.False);
        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        await running.WaitAsync(Patience);
    }

    [Test]
    public async Task A_waiting_connection_holds_no_receive_buffer_and_messages_of_every_shape_still_arrive_whole()
    {
        var (server, client, sockets) = await PairAsync();
        using var _ = sockets;
        var connection = new WebSocketConnection(server, new JsonFrameEncoder(batch: false), new ConnectionLimits(8192, 16, 256), "bar");
        var handler = new ReceivedFrames();
        var running = connection.RunAsync(handler, CancellationToken.None);
        Assert.That(connection.ReceiveBufferBytesHeld, Is.Zero, "waiting for the first frame with a zero-byte read");

        await client.SendAsync(Array.Empty<byte>(), WebSocketMessageType.Text, true, CancellationToken.None);
        Assert.That(await handler.NextAsync(), Is.EqualTo(""), "an empty message");

        await client.SendAsync("{\"com"u8.ToArray(), WebSocketMessageType.Text, false, CancellationToken.None);
        await client.SendAsync(Array.Empty<byte>(), WebSocketMessageType.Text, false, CancellationToken.None);
        await client.SendAsync("mand\":\"ping\"}"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        Assert.That(await handler.NextAsync(), Is.EqualTo("{\"command\":\"ping\"}"), "fragments, one of them empty, reassembled");

        var big = new string('x', 3000);
        await client.SendAsync(Encoding.UTF8.GetBytes(big), WebSocketMessageType.Text, true, CancellationToken.None);
        Assert.That(await handler.NextAsync(), Is.EqualTo(big), "larger than the initial receive buffer");

        await client.SendAsync("é"u8.ToArray(), WebSocketMessageType.Text, true, CancellationToken.None);
        Assert.That(await handler.NextAsync(), Is.EqualTo("é"));
        Assert.That(SpinWait.SpinUntil(() => connection.ReceiveBufferBytesHeld == 0, Patience), Is.True, "the buffer goes back once the message is handled");

        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        Assert.That(await ReceiveTextAsync(client), Is.EqualTo("close 1000 "));
        await running.WaitAsync(Patience);
        Assert.That(connection.ReceiveBufferBytesHeld, Is.Zero);
    }

    [Test]
    public async Task A_batching_connection_gives_its_joining_buffer_back_once_its_outbox_is_drained()
    {
        var (server, client, sockets) = await PairAsync();
        using var _ = sockets;
        var frames = new JsonFrameEncoder(batch: true);
        var connection = new WebSocketConnection(server, frames, new ConnectionLimits(4096, 16, 1024), "bar");
        Assert.That(connection.TryDeliver(Message(1)), Is.True);
        Assert.That(connection.TryDeliver(Message(2)), Is.True);
        var running = connection.RunAsync(new ReceivedFrames(), CancellationToken.None);

        Assert.That((await ReceiveTextAsync(client)).Split('\n'), Has.Length.EqualTo(2), "the two went out joined");
        Assert.That(SpinWait.SpinUntil(() => frames.HeldBytes == 0, Patience), Is.True, "nothing queued: the buffer went back to the pool");

        await client.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "", CancellationToken.None);
        await running.WaitAsync(Patience);
    }


    private sealed class Both(TcpClient server, TcpClient client) : IDisposable
    {
        public void Dispose()
        {
            server.Dispose();
            client.Dispose();
        }
    }
}
