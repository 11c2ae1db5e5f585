using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using TinyChat.Chat;
using TinyChat.Protocols.Http;
using TinyChat.Tests.Support;
using TinyChat.Tests.Web;
using TinyChat.Web;

namespace TinyChat.Tests.HttpApi;

[TestFixture]
public sealed class SseFramingTests
{
    private static readonly DateTimeOffset At = new(2026, 12, 3, 9, 0, 0, TimeSpan.Zero);

    // Texts that would break a careless framing: multi-byte characters, escapes, field names and blank lines inside
    // the text; with the padding, sizes from a few bytes to beyond the framing buffer's first size.
    private static readonly string[] Samples = ["a", "é ü ∑ 🙂", "quote \" and \\ backslash", "data: not a field", "two\n\nlines", "id: 7\nevent: x"];

    [TestCase(true)]
    [TestCase(false)]
    public async Task Runs_of_many_items_come_out_whole_and_in_order_across_released_buffers_and_keep_alives(bool userStream)
    {
        // The writer gives its framing buffer back whenever it drains; a pool that poisons what comes back and a
        // transport that reads each write's bytes only as it completes catch any frame that outlives its buffer.
        var pool = new PoisoningPool();
        var transport = new LateReadingTransport();
        var framing = new SseFrameEncoder(userStream ? SseEventEncoder.UserStream : SseEventEncoder.RoomStream, pool);
        if (userStream)
        {
            framing.Cursor = new StreamCursor(1, 0);
        }

        var releases = new ReleaseCountingFrames(framing);
        var outbox = new ConnectionOutbox(transport, releases, capacity: 512);
        var running = outbox.RunAsync(() => transport.Ended);

        var random = new Random(20261203);
        var sent = new List<ChatEvent>();
        var events = 0;
        var written = 0;
        long roomId = 0, privateId = 0;
        for (var burst = 0; burst < 40; burst++)
        {
            var before = releases.Count;
            var size = 1 + random.Next(24);
            for (var i = 0; i < size; i++)
            {
                if (random.Next(4) == 0)
                {
                    Assert.That(outbox.TryDeliver(new Reply(SseEventEncoder.KeepAlive)), Is.True);
                    events++;
                }

                var text = $"{burst}.{i}:{Samples[random.Next(Samples.Length)]}{new string('z', random.Next(6000))}";
                ChatEvent message = userStream && random.Next(3) == 0
                    ? new PrivateMessage("foo_user", "bar_user", text, ++privateId, At)
                    : new RoomMessage(random.Next(2) == 0 ? "default" : "ops", "foo_user", text, ++roomId, At);
                Assert.That(outbox.TryDeliver(message), Is.True);
                sent.Add(message);
                events++;
            }

            // Items queued while a write is held go out together as one run; once the queue is drained the writer
            // gives its buffer back, and the next burst frames into one rented again.
            while (written < events)
            {
                var carried = string.Concat(await transport.CompleteNextAsync());
                Assert.That(carried, Does.Not.Contain('#'), $"burst {burst}: a write carried bytes of a buffer already given back");
                written += CountOf(carried, "\n\n");
            }

            await releases.ReleasedAfterAsync(before);
        }

        outbox.Close(1000, "done", drain: true);
        await running.WaitAsync(TimeSpan.FromSeconds(30));

        var parsed = SseWire.Parse(transport.Text, out var rest);
        Assert.That(rest, Is.Empty, "the stream ends on an event boundary");
        Assert.That(parsed.Count(e => e.Comment == "keep-alive"), Is.EqualTo(events - sent.Count), "every keep-alive is a comment of its own");
        var messages = parsed.Where(e => e.Comment is null).ToList();
        Assert.That(messages, Has.Count.EqualTo(sent.Count));
        var positions = new Dictionary<string, long>();
        for (var i = 0; i < sent.Count; i++)
        {
            var (name, text, id, room) = sent[i] switch
            {
                RoomMessage m => ("message", m.Text, m.Id, m.Room),
                PrivateMessage p => ("private_message", p.Text, p.Id, "@"),
                _ => throw new InvalidOperationException(),
            };
            var data = JsonDocument.Parse(messages[i].Data!).RootElement;
            Assert.That((messages[i].Event, data.GetProperty("message").GetString(), data.GetProperty("id").GetInt64()), Is.EqualTo((name, text, id)), $"message {i}");
            positions[room] = id;
            if (userStream)
            {
                // The id is the stream's cursor just after this message: every room where this stream left it.
                Assert.That(StreamCursor.TryParse(messages[i].Id, out var cursor), Is.True, $"message {i}: id {messages[i].Id}");
                Assert.That(cursor.Private, Is.EqualTo(positions.GetValueOrDefault("@")), $"message {i}: private position");
                Assert.That(cursor.Rooms, Is.EquivalentTo(positions.Where(p => p.Key != "@")), $"message {i}: room positions");
            }
            else
            {
                Assert.That(messages[i].Id, Is.EqualTo(id.ToString(System.Globalization.CultureInfo.InvariantCulture)), $"message {i}");
            }
        }

        Assert.That(releases.Count, Is.GreaterThanOrEqualTo(40), "the writer released after every drained burst");
        Assert.That(transport.MostFramesInOneWrite, Is.GreaterThan(2), "some runs carried several items in one write");
        if (userStream)
        {
            Assert.That(pool.Returns, Is.GreaterThanOrEqualTo(40), "the framing buffer went back after each burst");
            Assert.That(pool.Reuses, Is.GreaterThanOrEqualTo(39), "and was rented again, poisoned, for the next");
        }
    }

    private static int CountOf(string text, string part)
    {
        var count = 0;
        for (var at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }
}

[TestFixture]
public sealed class SseWireTests
{
    private const string KeepAlive = ": keep-alive\n\n";

    private static readonly string[] Samples = ["", "é ü ∑ 🙂", "quote \" and \\ backslash", "data: not a field", "two\n\nlines", "id: 7\nevent: x"];

    // The user stream (the one whose ids the stream's own framing writes) read off the socket, not through a client
    // library: bursts of messages of mixed sizes, private and in a room, with keep-alives between them, must arrive
    // as whole events, each once, in order, with the cursor each message left.
    [Test]
    public async Task A_user_stream_read_off_the_socket_holds_whole_events_each_once_with_keep_alives_between()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string>
        {
            ["Sse:KeepAliveSeconds"] = "0.05",
            ["Limits:MessagesPerSecond"] = "0",
            ["Limits:FramesPerSecond"] = "0",
        });
        foreach (var token in new[] { "foo_token", "bar_token" })
        {
            await Api.SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", token);
        }

        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(server.BaseUri.Host, server.BaseUri.Port);
        await socket.SendAsync(Encoding.ASCII.GetBytes($"GET /api/events HTTP/1.1\r\nHost: {server.BaseUri.Authority}\r\nAuthorization: Bearer bar_token\r\nAccept: text/event-stream\r\n\r\n"));
        await using var wire = new WireReader(socket);
        await wire.WaitForAsync("event: presence_state", 1);

        await using var poster = await server.ConnectAsync("foo_token");
        var random = new Random(20261203);
        var inRoom = new List<string>();
        var privately = new List<string>();
        for (var burst = 0; burst < 16; burst++)
        {
            for (var i = 0; i < 8; i++)
            {
                var message = $"{burst}.{i}:{Samples[random.Next(Samples.Length)]}{new string('z', random.Next(3900))}";
                if (random.Next(3) == 0)
                {
                    await poster.SendAsync(new { to = "bar_user", message });
                    privately.Add(message);
                }
                else
                {
                    await poster.SendAsync(new { room = "default", message });
                    inRoom.Add(message);
                }
            }

            // Not one round trip per message: one keep-alive per burst, so comments fall among the bursts' events.
            await wire.WaitForAsync(KeepAlive, wire.Count(KeepAlive) + 1);
        }

        foreach (var last in new[] { inRoom[^1], privately[^1] })
        {
            await wire.WaitForAsync($"\"message\":\"{last[..last.IndexOf(':')]}:", 1);
        }

        var text = wire.Text;
        var body = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        Assert.That(text, Does.StartWith("HTTP/1.1 200"));
        var events = SseWire.Parse(text[(body + 4)..], out var rest);
        Assert.That(rest, Does.Not.Contain("\n\n"));
        Assert.That(events[0].Retry, Is.Not.Null, "the retry hint comes first");
        Assert.That(events.Count(e => e.Comment == "keep-alive"), Is.GreaterThanOrEqualTo(16));

        var messages = events.Where(e => e.Event is "message" or "private_message").ToList();
        Assert.That(messages.Where(e => e.Event == "message").Select(Text), Is.EqualTo(inRoom), "every room message once, in order, whole");
        Assert.That(messages.Where(e => e.Event == "private_message").Select(Text), Is.EqualTo(privately), "every private message once, in order, whole");
        long room = 0, privateId = 0;
        foreach (var message in messages)
        {
            var id = JsonDocument.Parse(message.Data!).RootElement.GetProperty("id").GetInt64();
            (room, privateId) = message.Event == "message" ? (id, privateId) : (room, id);
            Assert.That(StreamCursor.TryParse(message.Id, out var cursor), Is.True, $"a cursor: {message.Id}");
            Assert.That((cursor.RoomPosition("default"), cursor.Private), Is.EqualTo(((long?)room, privateId)), "the id is where this message left the stream");
        }
    }

    private static string Text(SseEvent e) => JsonDocument.Parse(e.Data!).RootElement.GetProperty("message").GetString()!;

    // Reads a socket to its end as UTF-8 text, and counts what arrives without rescanning all of it.
    private sealed class WireReader : IAsyncDisposable
    {
        private readonly Socket socket;
        private readonly StringBuilder text = new();
        private readonly Decoder decoder = Encoding.UTF8.GetDecoder();
        private readonly Dictionary<string, (int Count, int Scanned)> counts = [];
        private readonly Channel<int> arrived = Channel.CreateUnbounded<int>();
        private readonly CancellationTokenSource stop = new();
        private readonly Task reading;

        public WireReader(Socket socket)
        {
            this.socket = socket;
            reading = ReadAsync();
        }

        public string Text
        {
            get
            {
                lock (text)
                {
                    return text.ToString();
                }
            }
        }

        public int Count(string needle)
        {
            lock (text)
            {
                // A match starting before `from` ended within what was scanned, so it is counted already.
                var (count, scanned) = counts.GetValueOrDefault(needle);
                var from = Math.Max(0, scanned - needle.Length + 1);
                var fresh = text.ToString(from, text.Length - from);
                for (var at = fresh.IndexOf(needle, StringComparison.Ordinal); at >= 0; at = fresh.IndexOf(needle, at + 1, StringComparison.Ordinal))
                {
                    count++;
                }

                counts[needle] = (count, text.Length);
                return count;
            }
        }

        public async Task WaitForAsync(string needle, int count)
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (Count(needle) < count)
            {
                try
                {
                    await arrived.Reader.ReadAsync(timeout.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or ChannelClosedException)
                {
                    Assert.Fail($"{Escape(needle)} arrived {Count(needle)} times of {count} (stream {(reading.IsCompleted ? "ended" : "open")})");
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await stop.CancelAsync();
            await reading.WaitAsync(TimeSpan.FromSeconds(10));
            stop.Dispose();
        }

        private static string Escape(string text) => text.Replace("\n", "\\n", StringComparison.Ordinal);

        private async Task ReadAsync()
        {
            var bytes = new byte[16 * 1024];
            var chars = new char[bytes.Length + 4];
            try
            {
                int read;
                while ((read = await socket.ReceiveAsync(bytes, SocketFlags.None, stop.Token)) > 0)
                {
                    var decoded = decoder.GetChars(bytes, 0, read, chars, 0);
                    lock (text)
                    {
                        text.Append(chars, 0, decoded);
                    }

                    arrived.Writer.TryWrite(read);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException)
            {
            }
            finally
            {
                arrived.Writer.TryComplete();
            }
        }
    }
}
