using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;

namespace TinyChat.Tests.Support;

[TestFixture]
public sealed class ChatSocketTests
{
    private const int Sent = 2000;

    // The test client itself. Disposed with frames still unread, its close used to read beside its receive loop
    // (ClientWebSocket.CloseAsync receives until the peer's close frame): the close took the head of a message and
    // the loop the rest, as a "frame" of its own ('z' is an invalid start of a value), or the loop stopped early.
    [Test]
    public async Task Disposing_with_frames_unread_keeps_every_frame_whole_and_in_order()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;

        // The split needs an unlucky interleaving of the two readers; three rounds of 2,000 chances each.
        for (var round = 0; round < 3; round++)
        {
            var peer = ServeBurstAsync(listener);
            var socket = await ChatSocket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/"));
            var first = await socket.ReceiveAsync();
            Assert.That(first.GetProperty("n").GetInt32(), Is.Zero);

            // Megabytes are still on their way (or in the kernel's buffers) when the socket closes.
            await socket.DisposeAsync();
            await peer.WaitAsync(TimeSpan.FromSeconds(30));

            var numbers = new List<int> { 0 };
            while (socket.TryPeekPending(out _))
            {
                numbers.Add((await socket.ReceiveAsync()).GetProperty("n").GetInt32());
            }

            Assert.That(numbers, Is.EqualTo(Enumerable.Range(0, Sent)), $"round {round}: every frame the peer sent before the close, whole, in order");
        }
    }

    // A minimal WebSocket peer: accepts one client, sends the burst, then answers its close.
    private static async Task ServeBurstAsync(TcpListener listener)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        using var client = await listener.AcceptTcpClientAsync(timeout.Token);
        var stream = client.GetStream();
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal) && await stream.ReadAsync(one, timeout.Token) == 1)
        {
            head.Append((char)one[0]);
        }

        var key = head.ToString().Split("\r\n").Single(l => l.StartsWith("Sec-WebSocket-Key:", StringComparison.OrdinalIgnoreCase))[18..].Trim();
        var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"), timeout.Token);

        using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = true });
        var pad = new string('z', 2000);
        for (var n = 0; n < Sent; n++)
        {
            await socket.SendAsync(Encoding.UTF8.GetBytes($"{{\"n\":{n},\"pad\":\"{pad}\"}}"), WebSocketMessageType.Text, true, timeout.Token);
        }

        var buffer = new byte[4096];
        while ((await socket.ReceiveAsync(buffer, timeout.Token)).MessageType != WebSocketMessageType.Close)
        {
        }

        await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, null, timeout.Token);
    }
}
