using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using TinyChat.Tests.Irc;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Hardening;

/// <summary>
/// Failed sign-ins are limited per client address at every front door (issue 17, item 3): after
/// <c>Limits:FailedSignInsPerMinutePerAddress</c> invalid tokens, the address is refused — 429, or the door's
/// equivalent — even with a valid token. The window itself is tested on a manual clock in <c>SignInsTests</c>.
/// </summary>
[TestFixture]
public sealed class FailedSignInTests
{
    private const int Limit = 3;
    private TestServer server = null!;

    [SetUp]
    public async Task StartServer() => server = await TestServer.StartAsync(new Dictionary<string, string>
    {
        ["Limits:FailedSignInsPerMinutePerAddress"] = $"{Limit}",
        ["Server:TrustedProxies:0"] = "127.0.0.1",
        ["Storage:Provider"] = "memory",
    });

    [TearDown]
    public async Task StopServer() => await server.DisposeAsync();

    [Test]
    public async Task Native_chat_upgrade_answers_401_until_the_limit_then_429_even_for_a_valid_token()
    {
        for (var i = 0; i < Limit; i++)
        {
            Assert.That(await UpgradeAsync($"/chat?access_token=guess{i}"), Does.StartWith("HTTP/1.1 401 "));
        }

        var refused = await UpgradeAsync("/chat?access_token=foo_token");
        Assert.That(refused, Does.StartWith("HTTP/1.1 429 "));
        Assert.That(refused, Does.Contain("\"code\":\"too_many_failed_sign_ins\"").And.Contain("Retry-After: 60"));
    }

    [Test]
    public async Task Phoenix_websocket_upgrade_answers_429_after_the_limit()
    {
        for (var i = 0; i < Limit; i++)
        {
            Assert.That(await UpgradeAsync($"/socket/websocket?vsn=2.0.0&token=guess{i}"), Does.StartWith("HTTP/1.1 401 "));
        }

        Assert.That(await UpgradeAsync("/socket/websocket?vsn=2.0.0&token=foo_token"), Does.StartWith("HTTP/1.1 429 ").And.Contain("too_many_failed_sign_ins"));
    }

    [Test]
    public async Task Phoenix_long_poll_answers_status_403_in_the_body_and_http_429_after_the_limit()
    {
        for (var i = 0; i < Limit; i++)
        {
            using var wrong = await server.Http.GetAsync($"/socket/longpoll?vsn=2.0.0&token=guess{i}");
            Assert.That(wrong.StatusCode, Is.EqualTo(HttpStatusCode.OK));
            Assert.That(await wrong.Content.ReadAsStringAsync(), Is.EqualTo("{\"status\":403}"));
        }

        using var refused = await server.Http.GetAsync("/socket/longpoll?vsn=2.0.0&token=foo_token");
        Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        Assert.That(refused.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(60)));
        Assert.That(await refused.Content.ReadAsStringAsync(), Is.EqualTo("{\"status\":403}"), "phoenix.js reads the body: it closes and stops retrying");
    }

    [Test]
    public async Task The_HTTP_API_and_event_streams_answer_429_with_retry_after_after_the_limit()
    {
        for (var i = 0; i < Limit; i++)
        {
            using var wrong = await GetAsync("/api/me", $"guess{i}");
            Assert.That(wrong.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        foreach (var path in new[] { "/api/me", "/api/rooms", "/api/events", "/api/rooms/default/events" })
        {
            using var refused = await GetAsync(path, "foo_token");
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests), path);
            Assert.That(refused.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(60)), path);
            using var body = JsonDocument.Parse(await refused.Content.ReadAsStringAsync());
            Assert.That(body.RootElement.GetProperty("code").GetString(), Is.EqualTo("too_many_failed_sign_ins"), path);
        }
    }

    [Test]
    public async Task IRC_PASS_after_the_limit_gets_an_ERROR_with_the_reason_and_the_connection_closes()
    {
        for (var i = 0; i < Limit; i++)
        {
            var wrong = await IrcSignInAsync($"guess{i}");
            Assert.That(wrong, Has.Some.Contains(" 464 "));
        }

        var refused = await IrcSignInAsync("foo_token");
        Assert.That(refused, Has.None.Contains(" 001 "));
        Assert.That(refused[^1], Is.EqualTo("ERROR :Closing link: too many failed sign-ins from your address; try again in a minute"));
    }

    [Test]
    public async Task IRC_SASL_after_the_limit_fails_with_904_then_ERROR_and_close()
    {
        for (var i = 0; i < Limit; i++)
        {
            Assert.That(await UpgradeAsync($"/chat?access_token=guess{i}"), Does.StartWith("HTTP/1.1 401 "), "failures at any door count for the address");
        }

        await using var irc = await IrcTestClient.ConnectAsync(server);
        await irc.SendAsync("CAP LS 302");
        await irc.SendAsync("NICK foo_user");
        await irc.SendAsync("USER foo 0 * :Foo");
        await irc.SendAsync("CAP REQ :sasl");
        await irc.SendAsync("AUTHENTICATE PLAIN");
        await irc.ExpectAsync(l => l == "AUTHENTICATE +");
        await irc.SendAsync("AUTHENTICATE " + Convert.ToBase64String(Encoding.UTF8.GetBytes("foo_user\0foo_user\0foo_token")));
        var rest = await irc.ReadToCloseAsync();
        Assert.That(rest, Has.Some.Contains(" 904 "));
        Assert.That(rest[^1], Does.StartWith("ERROR :Closing link: too many failed sign-ins"));
    }

    [Test]
    public async Task Behind_a_trusted_proxy_each_forwarded_client_has_its_own_count()
    {
        for (var i = 0; i < Limit; i++)
        {
            using var wrong = await GetAsync("/api/me", $"guess{i}", forwardedFor: "203.0.113.7");
            Assert.That(wrong.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        }

        using (var guesser = await GetAsync("/api/me", "foo_token", forwardedFor: "203.0.113.7"))
        {
            Assert.That(guesser.StatusCode, Is.EqualTo(HttpStatusCode.TooManyRequests));
        }

        using var neighbour = await GetAsync("/api/me", "foo_token", forwardedFor: "203.0.113.8");
        Assert.That(neighbour.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(await UpgradeAsync("/chat?access_token=foo_token"), Does.StartWith("HTTP/1.1 101 "), "the proxy's own address is not the guesser");
    }

    private async Task<HttpResponseMessage> GetAsync(string path, string token, string? forwardedFor = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (forwardedFor is not null)
        {
            request.Headers.Add("X-Forwarded-For", forwardedFor);
        }

        return await server.Http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    private async Task<List<string>> IrcSignInAsync(string token)
    {
        await using var irc = await IrcTestClient.ConnectAsync(server);
        await irc.SendAsync($"PASS {token}");
        await irc.SendAsync("NICK foo_user");
        await irc.SendAsync("USER foo 0 * :Foo");
        return await irc.ReadToCloseAsync();
    }

    // The status line and headers of an upgrade (the body too when refused); a 101 is read up to its blank line.
    private async Task<string> UpgradeAsync(string target)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", server.BaseUri.Port);
        var stream = client.GetStream();
        var request = $"GET {target} HTTP/1.1\r\nHost: {server.BaseUri.Authority}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
            "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));

        using var timeout = new CancellationTokenSource(ChatSocket.DefaultTimeout);
        var received = new MemoryStream();
        var buffer = new byte[4096];
        while (true)
        {
            var read = await stream.ReadAsync(buffer, timeout.Token);
            received.Write(buffer, 0, read);
            var text = Encoding.UTF8.GetString(received.ToArray());
            if (read == 0 || (text.StartsWith("HTTP/1.1 101 ", StringComparison.Ordinal) && text.Contains("\r\n\r\n", StringComparison.Ordinal)))
            {
                return text;
            }
        }
    }
}
