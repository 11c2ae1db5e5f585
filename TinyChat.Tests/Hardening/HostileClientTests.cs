using System.Net;
using System.Net.Http.Json;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Hardening;

/// <summary>Issue 7: every bad input gets a clear error and nothing reaches further than the offender.</summary>
[TestFixture]
public sealed class HostileClientTests
{
    [Test]
    public async Task A_message_over_the_size_limit_closes_with_1009_even_when_fragmented()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["WebSocket:MaxMessageBytes"] = "4096" });
        await using var whole = await server.ConnectAsync("foo_token");
        await whole.SendTextAsync(new string('x', 5000));
        await whole.WaitClosedAsync();
        Assert.That(whole.CloseStatus, Is.EqualTo(WebSocketCloseStatus.MessageTooBig));
        Assert.That(whole.CloseDescription, Does.Contain("4096"));

        await using var fragments = await server.ConnectAsync("bar_token");
        var piece = Encoding.UTF8.GetBytes(new string('y', 100));
        try
        {
            for (var i = 0; i < 100; i++)
            {
                await fragments.Socket.SendAsync(piece, WebSocketMessageType.Text, endOfMessage: false, CancellationToken.None);
            }
        }
        catch (WebSocketException)
        {
            // The server may close while we are still sending fragments.
        }

        await fragments.WaitClosedAsync();
        Assert.That(fragments.CloseStatus, Is.EqualTo(WebSocketCloseStatus.MessageTooBig));
    }

    [Test]
    public async Task Invalid_utf8_in_a_text_frame_closes_with_1007()
    {
        await using var server = await TestServer.StartAsync();
        await using var foo = await server.ConnectAsync("foo_token");
        await foo.Socket.SendAsync(new byte[] { (byte)'{', 0xC3, 0x28, (byte)'}' }, WebSocketMessageType.Text, true, CancellationToken.None);
        await foo.WaitClosedAsync();
        Assert.That(foo.CloseStatus, Is.EqualTo(WebSocketCloseStatus.InvalidPayloadData));
    }

    [Test]
    public async Task A_flooding_user_is_rate_limited_then_disconnected()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string>
        {
            ["Limits:MessagesPerSecond"] = "1",
            ["Limits:MessageBurst"] = "5",
            ["Limits:FloodDisconnectAfter"] = "20",
        });
        await using var foo = await server.ConnectAsync("foo_token");
        await foo.RequestAsync(new() { ["command"] = "join" });

        var codes = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            var reply = await foo.RequestAsync(new() { ["room"] = "default", ["message"] = $"m{i}" });
            codes.Add(reply.TryGetProperty("code", out var c) ? c.GetString()! : "ok");
        }

        Assert.That(codes.Take(5), Is.All.EqualTo("ok"), "the burst passes");
        Assert.That(codes[5], Is.EqualTo("rate_limited"));

        try
        {
            for (var i = 0; i < 100 && foo.Socket.State == WebSocketState.Open; i++)
            {
                await foo.SendAsync(new { room = "default", message = "flood" });
            }
        }
        catch (WebSocketException)
        {
        }

        await foo.WaitClosedAsync();
        Assert.That(foo.CloseStatus, Is.EqualTo(WebSocketCloseStatus.PolicyViolation));
        Assert.That(foo.CloseDescription, Does.Contain("flood"));
    }

    [Test]
    public async Task Registration_is_limited_per_address()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Limits:RegistrationsPerMinutePerAddress"] = "3" });
        var statuses = new List<HttpStatusCode>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await server.Http.PostAsJsonAsync("/api/users", new { username = $"user{i}" });
            statuses.Add(response.StatusCode);
        }

        Assert.That(statuses, Is.EqualTo(new[] { HttpStatusCode.Created, HttpStatusCode.Created, HttpStatusCode.Created, (HttpStatusCode)429 }));
    }

    [Test]
    public async Task New_connections_are_limited_per_address_and_per_user()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string>
        {
            ["Limits:MaxConnectionsPerUser"] = "2",
            ["Limits:ConnectionsPerMinutePerAddress"] = "4",
        });
        await using var a = await server.ConnectAsync("foo_token");
        await using var b = await server.ConnectAsync("foo_token");
        var third = Assert.ThrowsAsync<WebSocketException>(async () => await server.ConnectAsync("foo_token"));
        Assert.That(third!.Message, Does.Contain("429"));

        await using var c = await server.ConnectAsync("bar_token");
        var fifth = Assert.ThrowsAsync<WebSocketException>(async () => await server.ConnectAsync("bar_token"));
        Assert.That(fifth!.Message, Does.Contain("429"), "the address used its 4 connections per minute");
    }

    [Test]
    public async Task A_user_may_create_only_so_many_rooms()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Limits:MaxRoomsCreatedPerUser"] = "2" });
        await using var foo = await server.ConnectAsync("foo_token");
        var replies = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var reply = await foo.RequestAsync(new() { ["command"] = "create", ["room"] = $"r{i}" });
            replies.Add(reply.TryGetProperty("code", out var c) ? c.GetString()! : "ok");
        }

        Assert.That(replies, Is.EqualTo(new[] { "ok", "ok", "room_quota" }));
    }

    [TestCase("http://evil.example", false)]
    [TestCase("null", false)]
    [TestCase("http://friend.example", true)]
    public async Task A_browser_upgrade_from_a_foreign_origin_is_refused_with_403(string origin, bool allowed)
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Limits:AllowedOrigins:0"] = "http://friend.example" });
        var uri = server.WebSocketUri("/chat?access_token=foo_token");
        if (allowed)
        {
            await using var ok = await ChatSocket.ConnectAsync(uri, o => o.SetRequestHeader("Origin", origin));
            Assert.That(ok.Socket.State, Is.EqualTo(WebSocketState.Open));
            return;
        }

        var refused = Assert.ThrowsAsync<WebSocketException>(async () => await ChatSocket.ConnectAsync(uri, o => o.SetRequestHeader("Origin", origin)));
        Assert.That(refused!.Message, Does.Contain("403"));
    }

    [Test]
    public async Task The_servers_own_origin_may_open_websockets()
    {
        await using var server = await TestServer.StartAsync();
        var own = $"http://{server.BaseUri.Authority}";
        await using var ok = await ChatSocket.ConnectAsync(server.WebSocketUri("/chat?access_token=foo_token"), o => o.SetRequestHeader("Origin", own));
        Assert.That(ok.Socket.State, Is.EqualTo(WebSocketState.Open));
    }

    [Test]
    public async Task Oversized_http_input_is_refused_with_413_414_and_431()
    {
        await using var server = await TestServer.StartAsync();
        using (var body = new StringContent(JsonSerializer.Serialize(new { username = new string('a', 10_000) }), Encoding.UTF8, "application/json"))
        using (var response = await server.Http.PostAsync("/api/users", body))
        {
            Assert.That((int)response.StatusCode, Is.EqualTo(413));
        }

        using (var response = await server.Http.GetAsync("/healthz?x=" + new string('q', 9000)))
        {
            Assert.That((int)response.StatusCode, Is.EqualTo(414));
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/healthz"))
        {
            for (var i = 0; i < 20; i++)
            {
                request.Headers.Add($"X-Padding-{i}", new string('p', 1000));
            }

            using var response = await server.Http.SendAsync(request);
            Assert.That((int)response.StatusCode, Is.EqualTo(431));
        }

        using (var healthy = await server.Http.GetAsync("/healthz"))
        {
            Assert.That(healthy.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }
    }

    [Test]
    public async Task Access_tokens_never_appear_in_the_logs()
    {
        var logs = new LogCapture();
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Logging:LogLevel:Default"] = "Debug" }, logs.Install);
        var token = await server.RegisterAsync("carol");
        await using (var carol = await server.ConnectAsync(token))
        {
            await carol.RequestAsync(new() { ["command"] = "join" });
        }

        Assert.ThrowsAsync<WebSocketException>(async () => await ChatSocket.ConnectAsync(server.WebSocketUri("/chat?access_token=" + token), o => o.SetRequestHeader("Origin", "http://evil.example")));
        using (await server.Http.GetAsync("/nothing?access_token=" + token))
        {
        }

        // The other doors that take a token in the URL: the HTTP API and its event streams (EventSource cannot set
        // headers), Phoenix's WebSocket and long poll (phoenix.js's params).
        using (await server.Http.GetAsync("/api/me?access_token=" + token))
        {
        }

        await using (var stream = await TinyChat.Tests.HttpApi.SseClient.OpenAsync(server.BaseUri, "/api/events?access_token=" + token, null))
        {
            Assert.That((await stream.NextAsync()).Retry, Is.Not.Null);
        }

        await using (var phoenix = await ChatSocket.ConnectAsync(server.WebSocketUri("/socket/websocket?vsn=2.0.0&token=" + token)))
        {
            await phoenix.SendTextAsync("""[null,"1","phoenix","heartbeat",{}]""");
            await phoenix.ReceiveAsync();
        }

        using (await server.Http.GetAsync("/socket/longpoll?vsn=2.0.0&token=" + token))
        {
        }

        await server.StopAsync();
        Assert.That(logs.Lines, Is.Not.Empty);
        Assert.That(logs.Lines, Has.None.Contains(token));
        Assert.That(logs.Lines, Has.None.Contains("foo_token"));
    }
}
