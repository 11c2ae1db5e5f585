using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using TinyChat.Protocols.Http;
using TinyChat.Tests.Support;
using static TinyChat.Tests.HttpApi.Api;

namespace TinyChat.Tests.HttpApi;

[TestFixture]
public sealed class EventStreamTests
{
    [Test]
    public async Task A_room_stream_sends_retry_messages_with_ids_presence_and_keep_alives()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Sse:KeepAliveSeconds"] = "0.2" });
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "foo_token");
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "bar_token");
        await using var stream = await SseClient.OpenAsync(server.BaseUri, "/api/rooms/default/events", "foo_token");
        Assert.That((int)stream.Response.StatusCode, Is.EqualTo(200));
        Assert.That(stream.Response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/event-stream"));
        Assert.That((await stream.NextAsync()).Retry, Is.EqualTo(3000));

        var state = await stream.ExpectAsync(e => e.Event == "presence_state");
        Assert.That(JsonDocument.Parse(state.Data!).RootElement.GetProperty("presence_state").TryGetProperty("foo_user", out _), Is.True, "the stream itself makes its user online");

        var (_, posted, _) = await PostMessageAsync(server.Http, "/api/rooms/default/messages", "bar_token", "hello stream");
        var message = await stream.ExpectAsync(e => e.Event == "message");
        Assert.That(message.Id, Is.EqualTo(posted.GetProperty("id").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var data = JsonDocument.Parse(message.Data!).RootElement;
        Assert.That(data.GetProperty("from").GetString(), Is.EqualTo("bar_user"));
        Assert.That(data.GetProperty("message").GetString(), Is.EqualTo("hello stream"));

        var keepAlive = await stream.ExpectAsync(e => e.Comment is not null);
        Assert.That(keepAlive.Comment, Is.EqualTo("keep-alive"));
    }

    [Test]
    public async Task A_room_stream_resumed_with_last_event_id_gets_every_missed_message_exactly_once_then_live()
    {
        await using var server = await TestServer.StartAsync();
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "foo_token");
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "bar_token");
        string lastId;
        await using (var first = await SseClient.OpenAsync(server.BaseUri, "/api/rooms/default/events", "foo_token"))
        {
            await PostMessageAsync(server.Http, "/api/rooms/default/messages", "bar_token", "before");
            lastId = (await first.ExpectAsync(e => e.Event == "message")).Id!;
        }

        foreach (var text in new[] { "missed 1", "missed 2", "missed 3" })
        {
            await PostMessageAsync(server.Http, "/api/rooms/default/messages", "bar_token", text);
        }

        await using var resumed = await SseClient.OpenAsync(server.BaseUri, "/api/rooms/default/events", "foo_token", lastId);
        Assert.That((int)resumed.Response.StatusCode, Is.EqualTo(200));
        await PostMessageAsync(server.Http, "/api/rooms/default/messages", "bar_token", "live 1");
        await PostMessageAsync(server.Http, "/api/rooms/default/messages", "bar_token", "live 2");
        var got = await resumed.TakeAsync("message", 5);
        Assert.That(got.Select(Message), Is.EqualTo(new[] { "missed 1", "missed 2", "missed 3", "live 1", "live 2" }));
        Assert.That(got.Select(e => long.Parse(e.Id!, System.Globalization.CultureInfo.InvariantCulture)), Is.Ordered.Ascending.And.Unique);
    }

    [Test]
    public async Task Messages_posted_while_the_stream_catches_up_are_neither_lost_nor_doubled()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Limits:MessagesPerSecond"] = "0", ["Limits:FramesPerSecond"] = "0" });
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "foo_token");
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "bar_token");
        await using var poster = await server.ConnectAsync("bar_token");
        for (var i = 0; i < 50; i++)
        {
            await poster.SendAsync(new { room = "default", message = $"m{i}" });
        }

        await poster.ExpectAsync(f => f.TryGetProperty("message", out var m) && m.GetString() == "m49");

        // Posting goes on while the resumed stream reads history, so live and replayed messages overlap.
        var posting = Task.Run(async () =>
        {
            for (var i = 50; i < 150; i++)
            {
                await poster.SendAsync(new { room = "default", message = $"m{i}" });
            }
        });
        await using var resumed = await SseClient.OpenAsync(server.BaseUri, "/api/rooms/default/events", "foo_token", "10");
        await posting;
        var got = await resumed.TakeAsync("message", 140);
        Assert.That(got.Select(Message), Is.EqualTo(Enumerable.Range(10, 140).Select(i => $"m{i}")));
        await poster.SendAsync(new { room = "default", message = "marker" });
        Assert.That(Message(await resumed.ExpectAsync(e => e.Event == "message")), Is.EqualTo("marker"), "nothing was delivered twice");
    }

    [Test]
    public async Task The_user_stream_carries_every_joined_room_and_private_messages_and_resumes()
    {
        await using var server = await TestServer.StartAsync();
        await SendAsync(server.Http, HttpMethod.Post, "/api/rooms", "bar_token", """{"room":"ops"}""");
        foreach (var room in new[] { "default", "ops" })
        {
            await SendAsync(server.Http, HttpMethod.Put, $"/api/rooms/{room}/membership", "foo_token");
            await SendAsync(server.Http, HttpMethod.Put, $"/api/rooms/{room}/membership", "bar_token");
        }

        string lastId;
        await using (var first = await SseClient.OpenAsync(server.BaseUri, "/api/events", "foo_token"))
        {
            await PostMessageAsync(server.Http, "/api/rooms/default/messages", "bar_token", "in default");
            await PostMessageAsync(server.Http, "/api/users/foo_user/messages", "bar_token", "private hello");
            Assert.That(Message(await first.ExpectAsync(e => e.Event == "message")), Is.EqualTo("in default"));
            var pm = await first.ExpectAsync(e => e.Event == "private_message");
            Assert.That(Message(pm), Is.EqualTo("private hello"));
            await PostMessageAsync(server.Http, "/api/rooms/ops/messages", "bar_token", "in ops");
            lastId = (await first.ExpectAsync(e => e.Event == "message")).Id!;
            Assert.That(StreamCursor.TryParse(lastId, out var cursor) && cursor.Rooms.Keys.Order().SequenceEqual(["default", "ops"]), Is.True, lastId);
        }

        await PostMessageAsync(server.Http, "/api/rooms/default/messages", "bar_token", "missed in default");
        await PostMessageAsync(server.Http, "/api/rooms/ops/messages", "bar_token", "missed in ops");
        await using var resumed = await SseClient.OpenAsync(server.BaseUri, "/api/events", "foo_token", lastId);
        await PostMessageAsync(server.Http, "/api/rooms/ops/messages", "bar_token", "live in ops");
        var got = await resumed.TakeAsync("message", 3);
        Assert.That(got.Select(Message), Is.EquivalentTo(new[] { "missed in default", "missed in ops", "live in ops" }));
        Assert.That(Message(got[2]), Is.EqualTo("live in ops"));
    }

    [Test]
    public async Task The_user_stream_resumes_exactly_once_across_rooms_and_private_messages_of_one_millisecond()
    {
        // The server's clock stands still: every message has the same timestamp, so only an exact cursor can tell.
        await using var server = await TestServer.StartAsync(
            new Dictionary<string, string> { ["Limits:MessagesPerSecond"] = "0", ["Limits:FramesPerSecond"] = "0" },
            services => services.AddSingleton<TimeProvider>(new ManualClock()));
        await SendAsync(server.Http, HttpMethod.Post, "/api/rooms", "bar_token", """{"room":"ops"}""");
        foreach (var room in new[] { "default", "ops" })
        {
            await SendAsync(server.Http, HttpMethod.Put, $"/api/rooms/{room}/membership", "foo_token");
            await SendAsync(server.Http, HttpMethod.Put, $"/api/rooms/{room}/membership", "bar_token");
        }

        string lastId;
        await using (var first = await SseClient.OpenAsync(server.BaseUri, "/api/events", "foo_token"))
        {
            await PostMessageAsync(server.Http, "/api/rooms/default/messages", "bar_token", "seen in default");
            await PostMessageAsync(server.Http, "/api/rooms/ops/messages", "bar_token", "seen in ops");
            await PostMessageAsync(server.Http, "/api/users/foo_user/messages", "bar_token", "seen privately");
            var seen = await TakeMessagesAsync(first, 3);
            Assert.That(seen.Select(Message), Is.EqualTo(new[] { "seen in default", "seen in ops", "seen privately" }));
            lastId = seen[^1].Id!;
        }

        var missed = new[]
        {
            ("/api/rooms/default/messages", "bar_token", "missed default 1"),
            ("/api/rooms/ops/messages", "bar_token", "missed ops 1"),
            ("/api/users/foo_user/messages", "bar_token", "missed private to foo"),
            ("/api/rooms/default/messages", "bar_token", "missed default 2"),
            ("/api/users/bar_user/messages", "foo_token", "missed private from foo (another tab)"),
            ("/api/rooms/ops/messages", "foo_token", "missed ops 2"),
        };
        foreach (var (path, token, text) in missed)
        {
            Assert.That((await PostMessageAsync(server.Http, path, token, text)).Status, Is.EqualTo(201));
        }

        await using var resumed = await SseClient.OpenAsync(server.BaseUri, "/api/events", "foo_token", lastId);
        Assert.That((int)resumed.Response.StatusCode, Is.EqualTo(200));
        await PostMessageAsync(server.Http, "/api/rooms/ops/messages", "bar_token", "live in ops");
        await PostMessageAsync(server.Http, "/api/users/foo_user/messages", "bar_token", "live private");
        var got = (await TakeMessagesAsync(resumed, missed.Length + 2)).Select(Message).ToList();
        Assert.That(got.Take(missed.Length), Is.EquivalentTo(missed.Select(m => m.Item3)), "each missed message once");
        Assert.That(got.Skip(missed.Length), Is.EqualTo(new[] { "live in ops", "live private" }), "then live");
        foreach (var source in new[] { "default", "ops", "private" })
        {
            Assert.That(got.Take(missed.Length).Where(m => m.Contains(source, StringComparison.Ordinal)), Is.EqualTo(missed.Select(m => m.Item3).Where(m => m.Contains(source, StringComparison.Ordinal))), $"{source} in its order");
        }

        // Nothing doubled behind them: the next event is a new marker.
        await PostMessageAsync(server.Http, "/api/rooms/default/messages", "bar_token", "marker");
        Assert.That(Message((await TakeMessagesAsync(resumed, 1))[0]), Is.EqualTo("marker"));
    }

    [Test]
    public async Task A_room_joined_since_the_stream_started_is_caught_up_on_resume()
    {
        await using var server = await TestServer.StartAsync();
        await SendAsync(server.Http, HttpMethod.Post, "/api/rooms", "bar_token", """{"room":"later"}""");
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/later/membership", "bar_token");
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "foo_token");
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "bar_token");
        await PostMessageAsync(server.Http, "/api/rooms/later/messages", "bar_token", "before foo's stream");
        string lastId;
        await using (var first = await SseClient.OpenAsync(server.BaseUri, "/api/events", "foo_token"))
        {
            await PostMessageAsync(server.Http, "/api/rooms/default/messages", "bar_token", "hello");
            lastId = (await TakeMessagesAsync(first, 1))[0].Id!;
        }

        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/later/membership", "foo_token");
        await PostMessageAsync(server.Http, "/api/rooms/later/messages", "bar_token", "after foo joined");
        await using var resumed = await SseClient.OpenAsync(server.BaseUri, "/api/events", "foo_token", lastId);
        await PostMessageAsync(server.Http, "/api/rooms/default/messages", "bar_token", "marker");

        Assert.That((await TakeMessagesAsync(resumed, 2)).Select(Message), Is.EqualTo(new[] { "after foo joined", "marker" }));
    }

    private static async Task<List<SseEvent>> TakeMessagesAsync(SseClient stream, int count)
    {
        var taken = new List<SseEvent>();
        while (taken.Count < count)
        {
            taken.Add(await stream.ExpectAsync(e => e.Event is "message" or "private_message"));
        }

        return taken;
    }

    [Test]
    public async Task Streams_refuse_a_bad_last_event_id_a_stranger_and_an_unknown_room()
    {
        await using var server = await TestServer.StartAsync();
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "foo_token");
        await using (var bad = await SseClient.OpenAsync(server.BaseUri, "/api/rooms/default/events", "foo_token", "not-a-number"))
        {
            Assert.That((int)bad.Response.StatusCode, Is.EqualTo(400));
        }

        await using (var bad = await SseClient.OpenAsync(server.BaseUri, "/api/events", "foo_token", "12"))
        {
            Assert.That((int)bad.Response.StatusCode, Is.EqualTo(400));
        }

        await using (var stranger = await SseClient.OpenAsync(server.BaseUri, "/api/rooms/default/events", "bar_token"))
        {
            Assert.That((int)stranger.Response.StatusCode, Is.EqualTo(403));
        }

        await using var unknown = await SseClient.OpenAsync(server.BaseUri, "/api/rooms/nowhere/events", "foo_token");
        Assert.That((int)unknown.Response.StatusCode, Is.EqualTo(404));
    }

    [Test]
    public async Task A_stream_counts_as_a_connection_of_its_user()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Limits:MaxConnectionsPerUser"] = "1" });
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "foo_token");
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "bar_token");
        await using var watcher = await server.ConnectAsync("bar_token");
        await using var stream = await SseClient.OpenAsync(server.BaseUri, "/api/events", "foo_token");
        await watcher.ExpectAsync(f => f.TryGetProperty("presence_diff", out var d) && d.GetProperty("joins").TryGetProperty("foo_user", out _));
        await using var second = await SseClient.OpenAsync(server.BaseUri, "/api/events", "foo_token");
        Assert.That((int)second.Response.StatusCode, Is.EqualTo(429));
        Assert.That(second.Response.Headers.RetryAfter, Is.Not.Null);
        Assert.That((await GetAsync(server.Http, "/api/me", "foo_token")).Status, Is.EqualTo(429), "an API call is a connection too");
    }

    [Test]
    public async Task Posts_cross_protocols_http_to_websocket_and_sse_and_websocket_to_sse()
    {
        await using var server = await TestServer.StartAsync();
        var baz = await server.RegisterAsync("baz_bot");
        foreach (var token in new[] { "foo_token", "bar_token", baz })
        {
            await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", token);
        }

        await using var web = await server.ConnectAsync("foo_token");
        await using var sse = await SseClient.OpenAsync(server.BaseUri, "/api/rooms/default/events", "bar_token");
        await sse.ExpectAsync(e => e.Event == "presence_state");
        await PostMessageAsync(server.Http, "/api/rooms/default/messages", baz, "from curl");
        var onWeb = await web.ExpectAsync(f => f.TryGetProperty("message", out var m) && m.GetString() == "from curl");
        Assert.That(onWeb.GetProperty("from").GetString(), Is.EqualTo("baz_bot"));
        Assert.That(Message(await sse.ExpectAsync(e => e.Event == "message")), Is.EqualTo("from curl"));

        await web.SendAsync(new { room = "default", message = "from the browser" });
        var onSse = await sse.ExpectAsync(e => e.Event == "message");
        Assert.That(Message(onSse), Is.EqualTo("from the browser"));
        Assert.That(JsonDocument.Parse(onSse.Data!).RootElement.GetProperty("from").GetString(), Is.EqualTo("foo_user"));
    }

    [Test]
    public async Task A_curl_post_reaches_web_phoenix_irc_and_event_stream_readers_of_the_room()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Irc:ServerName"] = "irc.test" });
        var bot = await server.RegisterAsync("deploy_bot");
        var carol = await server.RegisterAsync("carol");
        foreach (var token in new[] { "foo_token", "bar_token", carol, bot })
        {
            await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", token);
        }

        await using var web = await server.ConnectAsync("foo_token");
        await using var phoenix = await ChatSocket.ConnectAsync(server.WebSocketUri("/socket/websocket?vsn=2.0.0&token=bar_token"));
        await phoenix.SendTextAsync("""["1","1","room:default","phx_join",{}]""");
        await phoenix.ExpectAsync(f => f[3].GetString() == "phx_reply");
        await using var irc = await Irc.IrcTestClient.RegisterAsync(server, "carol", carol);
        await irc.SendAsync("JOIN #default");
        await irc.ExpectAsync(l => l.Contains(" 366 ", StringComparison.Ordinal));
        await using var sse = await SseClient.OpenAsync(server.BaseUri, "/api/rooms/default/events", "foo_token");
        await sse.ExpectAsync(e => e.Event == "presence_state");

        var (status, posted, _) = await PostMessageAsync(server.Http, "/api/rooms/default/messages", bot, "deploy finished");
        Assert.That(status, Is.EqualTo(201));
        var id = posted.GetProperty("id").GetInt64();
        var onWeb = await web.ExpectAsync(f => f.TryGetProperty("message", out var m) && m.GetString() == "deploy finished");
        Assert.That((onWeb.GetProperty("from").GetString(), onWeb.GetProperty("id").GetInt64()), Is.EqualTo(("deploy_bot", id)));
        var onPhoenix = await phoenix.ExpectAsync(f => f[3].GetString() == "new_msg");
        Assert.That((onPhoenix[4].GetProperty("user").GetString(), onPhoenix[4].GetProperty("body").GetString(), onPhoenix[4].GetProperty("id").GetInt64()), Is.EqualTo(("deploy_bot", "deploy finished", id)));
        Assert.That(await irc.ExpectAsync(l => l.Contains("PRIVMSG #default", StringComparison.Ordinal)), Does.Contain(":deploy_bot!").And.EndWith("PRIVMSG #default :deploy finished"));
        var onSse = await sse.ExpectAsync(e => e.Event == "message");
        Assert.That((onSse.Id, Message(onSse)), Is.EqualTo((id.ToString(System.Globalization.CultureInfo.InvariantCulture), "deploy finished")));
    }

    [Test]
    public async Task A_stream_is_framed_as_text_event_stream_ending_with_the_connection_on_the_wire()
    {
        await using var server = await TestServer.StartAsync();
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "foo_token");
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.BaseUri.Host, server.BaseUri.Port);
        var wire = tcp.GetStream();
        await wire.WriteAsync(Encoding.ASCII.GetBytes($"GET /api/rooms/default/events?access_token=foo_token HTTP/1.1\r\nHost: {server.BaseUri.Authority}\r\n\r\n"));
        var seen = new StringBuilder();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (!seen.ToString().Contains("event: presence_state", StringComparison.Ordinal))
        {
            var read = await wire.ReadAsync(buffer, timeout.Token);
            Assert.That(read, Is.GreaterThan(0), "the stream stays open");
            seen.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }

        var text = seen.ToString();
        Assert.That(text, Does.StartWith("HTTP/1.1 200"));
        Assert.That(text, Does.Contain("Content-Type: text/event-stream"));
        Assert.That(text, Does.Contain("Connection: close"), "the body ends with the connection");
        Assert.That(text, Does.Not.Contain("Transfer-Encoding"));
        Assert.That(text, Does.Contain("Cache-Control: no-store"));
        Assert.That(text, Does.Contain("retry: 3000\n\n"));
    }

    [Test]
    public async Task Shutdown_ends_streams_after_their_queued_events()
    {
        var server = await TestServer.StartAsync();
        try
        {
            await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "foo_token");
            await using var stream = await SseClient.OpenAsync(server.BaseUri, "/api/events", "foo_token");
            await stream.ExpectAsync(e => e.Event == "presence_state");
            // Posted (durable and queued to the stream) just before the stop: the stream ends after them.
            for (var i = 0; i < 5; i++)
            {
                await PostMessageAsync(server.Http, "/api/rooms/default/messages", "foo_token", $"last words {i}");
            }

            await server.StopAsync();
            await stream.Ended.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.That(server.Services.GetRequiredService<OpenEventStreams>().Count, Is.Zero);
            var received = new List<string>();
            try
            {
                while (true)
                {
                    var next = await stream.NextAsync();
                    if (next.Event == "message")
                    {
                        received.Add(Message(next));
                    }
                }
            }
            catch (ChannelClosedException)
            {
                // Everything the stream carried before its end has been read.
            }

            Assert.That(received, Is.EqualTo(Enumerable.Range(0, 5).Select(i => $"last words {i}")));
        }
        finally
        {
            await server.DisposeAsync();
        }
    }
}

[TestFixture]
[NonParallelizable]
public sealed class SlowEventStreamTests
{
    [Test]
    public async Task A_stream_that_is_not_read_is_cut_off_the_others_keep_up_and_it_resumes_with_last_event_id_exactly_once()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string>
        {
            ["Sse:OutboxCapacity"] = "16",
            ["Limits:MessagesPerSecond"] = "0",
            ["Limits:FramesPerSecond"] = "0",
            ["Limits:ConnectionsPerMinutePerAddress"] = "10000",
        });
        var sloth = await server.RegisterAsync("sse_sloth");
        foreach (var token in new[] { "foo_token", "bar_token", sloth })
        {
            await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", token);
        }

        var open = server.Services.GetRequiredService<OpenEventStreams>();
        using var slow = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
        await slow.ConnectAsync(server.BaseUri.Host, server.BaseUri.Port);
        await slow.SendAsync(Encoding.ASCII.GetBytes($"GET /api/rooms/default/events HTTP/1.1\r\nHost: {server.BaseUri.Authority}\r\nAuthorization: Bearer {sloth}\r\n\r\n"));
        await using var reader = await SseClient.OpenAsync(server.BaseUri, "/api/rooms/default/events", "bar_token");
        await using var poster = await server.ConnectAsync("foo_token");
        await reader.ExpectAsync(e => e.Event == "presence_diff" && e.Data!.Contains("sse_sloth", StringComparison.Ordinal) || open.Count == 2);

        var text = new string('z', 2000);
        var sent = 0;
        var ids = new List<string>();
        // Bursts of 8 (half the outbox): the kernel buffers megabytes before the unread stream's outbox fills, and one
        // round trip per message took longer than the deadline on a loaded machine.
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (open.Count > 1 && DateTime.UtcNow < deadline)
        {
            for (var i = 0; i < 8; i++)
            {
                await poster.SendAsync(new { room = "default", message = $"{sent + i}:{text}" });
            }

            for (var i = 0; i < 8; i++)
            {
                var got = await reader.ExpectAsync(e => e.Event == "message");
                Assert.That(Message(got), Does.StartWith($"{sent}:"), "the reading stream gets every message in order, at once");
                ids.Add(got.Id!);
                sent++;
            }
        }

        Assert.That(open.Count, Is.EqualTo(1), $"the unread stream was ended after {sent} messages");
        Assert.That(sent, Is.GreaterThan(16));

        // The server really let the connection go: draining what the kernel buffered, the reader reaches its end.
        var drained = new MemoryStream();
        var buffer = new byte[64 * 1024];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            int read;
            while ((read = await slow.ReceiveAsync(buffer, SocketFlags.None, timeout.Token)) > 0)
            {
                drained.Write(buffer, 0, read);
            }
        }
        catch (SocketException)
        {
            // Reset by the server: gone as well.
        }

        Assert.That(timeout.IsCancellationRequested, Is.False, $"the server still holds the socket after {drained.Length} bytes");

        // The cut-off client resumes from the last whole event it read, as EventSource does, and gets every message
        // after it exactly once, in order. The abort dropped what the server's socket still held (hundreds of
        // messages), and a connection replays at most half the outbox (8 here), so this takes many reconnects.
        var wire = Encoding.UTF8.GetString(drained.ToArray());
        var whole = wire[..(wire.LastIndexOf("\n\n", StringComparison.Ordinal) + 2)];
        var lastRead = whole.Split('\n').LastOrDefault(l => l.StartsWith("id: ", StringComparison.Ordinal))?[4..];
        var resumeFrom = lastRead is null ? -1 : ids.IndexOf(lastRead);
        Assert.That(lastRead is null || resumeFrom >= 0, Is.True, $"the cut-off stream's last id {lastRead} is one of the messages");
        var lastEventId = lastRead ?? (long.Parse(ids[0], System.Globalization.CultureInfo.InvariantCulture) - 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        var resumed = new List<string>();
        var resumeDeadline = DateTime.UtcNow.AddSeconds(120);
        for (var reconnects = 0; resumed.Count < sent - resumeFrom - 1 && reconnects < 1000 && DateTime.UtcNow < resumeDeadline; reconnects++)
        {
            await using var again = await SseClient.OpenAsync(server.BaseUri, "/api/rooms/default/events", sloth, lastEventId);
            Assert.That((int)again.Response.StatusCode, Is.EqualTo(200));
            while (resumed.Count < sent - resumeFrom - 1)
            {
                SseEvent next;
                try
                {
                    next = await again.NextAsync();
                }
                catch (ChannelClosedException)
                {
                    break; // the replay's bound: reconnect with the newest id
                }

                if (next.Event == "message")
                {
                    resumed.Add(Message(next).Split(':')[0]);
                    lastEventId = next.Id!;
                }
            }
        }

        var expected = Enumerable.Range(resumeFrom + 1, sent - resumeFrom - 1).Select(n => n.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Assert.That(resumed, Is.EqualTo(expected), $"resumed after message {resumeFrom} of {sent}");
    }
}
