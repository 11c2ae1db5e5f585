using System.Net;
using System.Net.WebSockets;
using System.Text;
using TinyChat.Tests.Support;
using TinyChat.Web;

namespace TinyChat.Tests.Web;

/// <summary>The cork around a write-many: found on a real listener's connection, set while the frames are written, released after.</summary>
[TestFixture]
public sealed class SendCorkTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    [Test]
    public void This_runtimes_listener_keeps_the_connection_socket_where_the_cork_looks()
    {
        // If .NET moves HttpListenerContext._connection or HttpConnection._socket, WebSockets silently lose the cork
        // (one segment per message again); this is the test that says so.
        Assert.That(ListenerSockets.Supported, Is.True);
        Assert.That(TcpCork.Supported, Is.True, "the tests run on Linux, where TCP_CORK exists");
    }

    [Test]
    public async Task A_corked_write_many_over_a_real_listener_sets_the_option_on_the_connection_and_every_frame_arrives_in_order()
    {
        using var listener = BareListener.Start(out var uri);
        using var client = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(Patience);
        var connecting = client.ConnectAsync(new Uri($"ws://{uri.Authority}/chat"), timeout.Token);
        var context = await listener.GetContextAsync().WaitAsync(Patience);
        var accepted = await context.AcceptWebSocketAsync(null, 1024, TimeSpan.Zero).WaitAsync(Patience);
        await connecting;

        var socket = ListenerSockets.Of(context);
        Assert.That(socket, Is.Not.Null);
        Assert.That(((IPEndPoint)socket!.LocalEndPoint!).Port, Is.EqualTo(uri.Port), "the accepted connection's socket");
        var cork = ListenerSockets.CorkOf(context) as TcpCork;
        Assert.That(cork, Is.Not.Null);
        Assert.That(cork!.IsCorked(), Is.False, "not corked outside a write-many");

        Assert.That(socket.NoDelay, Is.False, "HttpListener leaves Nagle on, which is why uncorking also pushes");
        var seen = new RecordingCork(cork);
        var transport = new WebSocketTransport(accepted.WebSocket, cork: seen);
        var frames = Enumerable.Range(0, 50).Select(i => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"frame {i}")).ToList();
        await transport.WriteManyAsync(frames, timeout.Token);

        Assert.That(seen.CorkedWhenSet, Is.True, "TCP_CORK was on the connection's socket during the write-many");
        Assert.That(cork.IsCorked(), Is.False, "released after it");
        Assert.That(socket.NoDelay, Is.False, "Nagle as before for single writes");
        var buffer = new byte[64];
        for (var i = 0; i < 50; i++)
        {
            var received = await client.ReceiveAsync(buffer.AsMemory(), timeout.Token);
            Assert.That(received.EndOfMessage, Is.True);
            Assert.That(Encoding.UTF8.GetString(buffer, 0, received.Count), Is.EqualTo($"frame {i}"));
        }
    }

    [Test]
    public async Task Write_many_corks_before_the_first_frame_and_uncorks_after_the_last_and_a_single_write_is_not_corked()
    {
        var events = new List<string>();
        await using var stream = new RecordingStream(events);
        using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
        var transport = new WebSocketTransport(socket, cork: new EventCork(events));

        await transport.WriteManyAsync([Encoding.UTF8.GetBytes("a"), Encoding.UTF8.GetBytes("b"), Encoding.UTF8.GetBytes("c")], CancellationToken.None);
        Assert.That(events[0], Is.EqualTo("cork"));
        Assert.That(events[^1], Is.EqualTo("uncork"));
        Assert.That(events.Count(e => e == "write"), Is.GreaterThanOrEqualTo(3), "each message its own socket write, inside the cork");
        Assert.That(events.Count(e => e is "cork" or "uncork"), Is.EqualTo(2));

        events.Clear();
        await transport.WriteAsync(Encoding.UTF8.GetBytes("d"), CancellationToken.None);
        Assert.That(events, Is.All.EqualTo("write"), "one frame needs no cork");
    }

    [Test]
    public async Task A_write_many_that_fails_still_uncorks_and_fails_as_before()
    {
        var events = new List<string>();
        await using var stream = new RecordingStream(events) { FailAfter = 1 };
        using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
        var transport = new WebSocketTransport(socket, cork: new EventCork(events));

        Assert.That(
            async () => await transport.WriteManyAsync([Encoding.UTF8.GetBytes("a"), Encoding.UTF8.GetBytes("b")], CancellationToken.None),
            Throws.InstanceOf<IOException>());
        Assert.That(events[0], Is.EqualTo("cork"));
        Assert.That(events[^1], Is.EqualTo("uncork"));
    }

    [Test]
    public void A_cork_on_a_closed_socket_neither_throws_nor_reports_corked()
    {
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        var cork = new TcpCork(socket);
        socket.Dispose();
        Assert.That(() => { cork.Cork(); cork.Uncork(); }, Throws.Nothing);
    }

    // Reads the real option right after the transport set it, while the frames are still to be written.
    private sealed class RecordingCork(TcpCork inner) : ISendCork
    {
        public bool CorkedWhenSet { get; private set; }

        public void Cork()
        {
            inner.Cork();
            CorkedWhenSet = inner.IsCorked();
        }

        public void Uncork() => inner.Uncork();
    }

    private sealed class EventCork(List<string> events) : ISendCork
    {
        public void Cork() => events.Add("cork");

        public void Uncork() => events.Add("uncork");
    }

    private sealed class RecordingStream(List<string> events) : Stream
    {
        public int FailAfter { get; init; } = int.MaxValue;

        public override bool CanRead => true;

        public override bool CanSeek => false;

        public override bool CanWrite => true;

        public override long Length => throw new NotSupportedException();

        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();

        public override void Write(byte[] buffer, int offset, int count) => Record();

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Record();
            return ValueTask.CompletedTask;
        }

        private void Record()
        {
            if (events.Count(e => e == "write") >= FailAfter)
            {
                throw new IOException("connection reset");
            }

            events.Add("write");
        }
    }
}
