using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using TinyChat.Tests.Support;
using TinyChat.Web;

namespace TinyChat.Tests.Web;

/// <summary><see cref="ListenerBuffers"/> against a real <see cref="HttpListener"/> on loopback.</summary>
[TestFixture]
public sealed class ListenerBuffersTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Test]
    public async Task After_a_websocket_upgrade_the_request_head_buffer_is_released_and_the_websocket_works_both_ways()
    {
        Assert.That(ListenerBuffers.Supported, Is.True, "this runtime's HttpListener keeps its request-head buffer where the release expects it");
        using var listener = BareListener.Start(out var uri);
        using var client = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(Patience);
        var connecting = client.ConnectAsync(new Uri($"ws://{uri.Authority}/chat"), timeout.Token);
        var context = await listener.GetContextAsync().WaitAsync(Patience);
        var accepted = await context.AcceptWebSocketAsync(null, 1024, TimeSpan.Zero).WaitAsync(Patience);
        await connecting;

        Assert.That(ListenerBuffers.HeldBytes(context), Is.EqualTo(8192), "held until released");
        Assert.That(ListenerBuffers.ReleaseRequestBuffer(context), Is.EqualTo(8192));
        Assert.That(ListenerBuffers.HeldBytes(context), Is.Zero);
        Assert.That(ListenerBuffers.ReleaseRequestBuffer(context), Is.Zero, "a second release finds nothing");

        var server = accepted.WebSocket;
        await client.SendAsync("ping"u8.ToArray(), WebSocketMessageType.Text, true, timeout.Token);
        var buffer = new byte[16];
        var received = await server.ReceiveAsync(buffer.AsMemory(), timeout.Token);
        Assert.That(Encoding.UTF8.GetString(buffer, 0, received.Count), Is.EqualTo("ping"));
        await server.SendAsync("pong"u8.ToArray(), WebSocketMessageType.Text, true, timeout.Token);
        received = await client.ReceiveAsync(buffer.AsMemory(), timeout.Token);
        Assert.That(Encoding.UTF8.GetString(buffer, 0, received.Count), Is.EqualTo("pong"));
    }

    [Test]
    public async Task A_connection_whose_buffer_was_released_reads_its_next_request_as_before()
    {
        // Released under a plain response (as an event stream would be): keep-alive reuse must find a new buffer.
        using var listener = BareListener.Start(out var uri);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, uri.Port).WaitAsync(Patience);
        var stream = tcp.GetStream();
        var reader = new StreamReader(stream, Encoding.ASCII);
        for (var request = 1; request <= 2; request++)
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /r{request} HTTP/1.1\r\nHost: {uri.Authority}\r\n\r\n"));
            var context = await listener.GetContextAsync().WaitAsync(Patience);
            Assert.That(context.Request.Url?.AbsolutePath, Is.EqualTo($"/r{request}"));
            ListenerBuffers.ReleaseRequestBuffer(context);
            var body = Encoding.ASCII.GetBytes($"reply {request}");
            context.Response.ContentLength64 = body.Length;
            await context.Response.OutputStream.WriteAsync(body);
            context.Response.Close();

            using var timeout = new CancellationTokenSource(Patience);
            string? line;
            while ((line = await reader.ReadLineAsync(timeout.Token)) is { Length: > 0 })
            {
            }

            var read = new char[body.Length];
            await reader.ReadBlockAsync(read.AsMemory(), timeout.Token);
            Assert.That(new string(read), Is.EqualTo($"reply {request}"), "served on the same connection");
        }
    }
}
