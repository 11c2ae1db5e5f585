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
    public async Task A_websocket_connection_sends_without_nagle_and_its_corked_write_many_leaves_nothing_held()
    {
        using var listener = BareListener.Start(out var uri);
        using var client = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(Patience);
        var (context, accepted) = await UpgradeAsync(listener, uri, client, timeout.Token);

        var socket = ListenerSockets.Of(context);
        Assert.That(socket, Is.Not.Null);
        Assert.That(((IPEndPoint)socket!.LocalEndPoint!).Port, Is.EqualTo(uri.Port), "the accepted connection's socket");
        Assert.That(socket.NoDelay, Is.False, "the listener leaves Nagle on");
        var cork = ListenerSockets.ForWebSocket(context) as TcpCork;
        Assert.That(cork, Is.Not.Null);
        Assert.That(socket.NoDelay, Is.True, "a frame is sent at once, not held until the member acknowledges the one before");
        Assert.That(cork!.IsCorked(), Is.False, "not corked outside a write-many");

        var seen = new RecordingCork(cork);
        var transport = new WebSocketTransport(accepted.WebSocket, cork: seen);
        await transport.WriteManyAsync(Frames(50), timeout.Token);

        Assert.That(seen.CorkedWhenSet, Is.True, "TCP_CORK was on the connection's socket during the write-many");
        Assert.That(cork.IsCorked(), Is.False, "released after it");
        Assert.That(UnsentBytes(socket), Is.Zero, "uncorking pushed the last part-filled segment out");
        Assert.That(socket.NoDelay, Is.True);
        await ExpectFramesAsync(client, 50, timeout.Token);
    }

    [Test]
    public async Task An_event_stream_sends_without_nagle_and_its_run_of_events_leaves_nothing_held()
    {
        using var listener = BareListener.Start(out var uri);
        using var client = new HttpClient();
        using var timeout = new CancellationTokenSource(Patience);
        var responding = client.GetAsync(new Uri(uri, "api/events"), HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        var context = await listener.GetContextAsync().WaitAsync(Patience, timeout.Token);
        var socket = ListenerSockets.Of(context)!;
        Assert.That(socket.NoDelay, Is.False, "the listener leaves Nagle on");

        var transport = new TinyChat.Protocols.Http.SseTransport(context);
        Assert.That(socket.NoDelay, Is.True, "an event is sent at once, not held until the client acknowledges the one before");
        context.Response.ContentType = "text/event-stream";
        TinyChat.Protocols.Http.SseTransport.Frame(context.Response);
        await transport.WriteAsync(Encoding.UTF8.GetBytes(": open\n\n"), timeout.Token);
        using var response = await responding;
        await using var body = await response.Content.ReadAsStreamAsync(timeout.Token);

        var events = Enumerable.Range(0, 50).Select(i => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"data: event {i}\n\n")).ToList();
        await transport.WriteManyAsync(events, timeout.Token);
        Assert.That(UnsentBytes(socket), Is.Zero, "uncorking pushed the last part-filled segment out");
        Assert.That(new TcpCork(socket).IsCorked(), Is.False, "released after the run");

        var expected = ": open\n\n" + string.Concat(Enumerable.Range(0, 50).Select(i => $"data: event {i}\n\n"));
        var received = new byte[expected.Length];
        await body.ReadExactlyAsync(received, timeout.Token);
        Assert.That(Encoding.UTF8.GetString(received), Is.EqualTo(expected));
        transport.Abort();
    }

    [Test]
    public async Task A_cork_on_a_socket_that_keeps_nagle_still_pushes_its_last_segment_and_leaves_nagle_on()
    {
        using var listener = BareListener.Start(out var uri);
        using var client = new ClientWebSocket();
        using var timeout = new CancellationTokenSource(Patience);
        var (context, accepted) = await UpgradeAsync(listener, uri, client, timeout.Token);
        var socket = ListenerSockets.Of(context)!;
        Assert.That(socket.NoDelay, Is.False);
        var cork = new TcpCork(socket);

        await new WebSocketTransport(accepted.WebSocket, cork: cork).WriteManyAsync(Frames(50), timeout.Token);

        Assert.That(cork.IsCorked(), Is.False);
        Assert.That(UnsentBytes(socket), Is.Zero, "pushed, not held for the client's delayed acknowledgement");
        Assert.That(socket.NoDelay, Is.False, "Nagle as before for single writes");
        await ExpectFramesAsync(client, 50, timeout.Token);
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

    private static async Task<(HttpListenerContext Context, HttpListenerWebSocketContext Accepted)> UpgradeAsync(
        HttpListener listener, Uri uri, ClientWebSocket client, CancellationToken cancellationToken)
    {
        var connecting = client.ConnectAsync(new Uri($"ws://{uri.Authority}/chat"), cancellationToken);
        var context = await listener.GetContextAsync().WaitAsync(Patience, cancellationToken);
        var accepted = await context.AcceptWebSocketAsync(null, 1024, TimeSpan.Zero).WaitAsync(Patience, cancellationToken);
        await connecting;
        return (context, accepted);
    }

    private static List<ReadOnlyMemory<byte>> Frames(int count) =>
        [.. Enumerable.Range(0, count).Select(i => (ReadOnlyMemory<byte>)Encoding.UTF8.GetBytes($"frame {i}"))];

    private static async Task ExpectFramesAsync(ClientWebSocket client, int count, CancellationToken cancellationToken)
    {
        var buffer = new byte[64];
        for (var i = 0; i < count; i++)
        {
            var received = await client.ReceiveAsync(buffer.AsMemory(), cancellationToken);
            Assert.That(received.EndOfMessage, Is.True);
            Assert.That(Encoding.UTF8.GetString(buffer, 0, received.Count), Is.EqualTo($"frame {i}"));
        }
    }

    // Linux's TCP_INFO: tcpi_notsent_bytes, what the socket holds back that it has not sent at all (corked or under
    // Nagle). The client has not read yet, but its receive window takes a few hundred bytes, so nothing else holds them.
    private static int UnsentBytes(System.Net.Sockets.Socket socket)
    {
        const int SolTcp = 6;
        const int TcpInfo = 11;
        const int NotSentBytesOffset = 144;
        Span<byte> info = stackalloc byte[256];
        var length = socket.GetRawSocketOption(SolTcp, TcpInfo, info);
        Assert.That(length, Is.GreaterThanOrEqualTo(NotSentBytesOffset + 4), "a kernel that reports unsent bytes (4.6 or later)");
        return BitConverter.ToInt32(info[NotSentBytesOffset..]);
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
