using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Web;

/// <summary>The HTTP front over real sockets: static files, health, errors, traversal.</summary>
[TestFixture]
public sealed class HttpServerTests
{
    private TestServer server = null!;

    [OneTimeSetUp]
    public async Task StartServer() => server = await TestServer.StartAsync();

    [OneTimeTearDown]
    public async Task StopServer() => await server.DisposeAsync();

    [Test]
    public async Task Root_serves_chat_html_with_security_headers()
    {
        using var response = await server.Http.GetAsync("/");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType!.MediaType, Is.EqualTo("text/html"));
        Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("<html"));
        Assert.That(response.Headers.GetValues("Content-Security-Policy").Single(), Does.Contain("script-src 'self'"));
        Assert.That(response.Headers.GetValues("X-Content-Type-Options").Single(), Is.EqualTo("nosniff"));
        Assert.That(response.Headers.GetValues("Referrer-Policy").Single(), Is.EqualTo("no-referrer"));
    }

    [Test]
    public async Task The_board_page_has_the_clients_security_headers_no_inline_script_and_no_websocket()
    {
        using var chat = await server.Http.GetAsync("/chat.html");
        using var board = await server.Http.GetAsync("/board.html");
        Assert.That(board.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        foreach (var header in new[] { "Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy" })
        {
            Assert.That(board.Headers.GetValues(header), Is.EqualTo(chat.Headers.GetValues(header)), header);
        }

        var html = await board.Content.ReadAsStringAsync();
        Assert.That(System.Text.RegularExpressions.Regex.Matches(html, "<script(?![^>]*\\ssrc=)[^>]*>"), Is.Empty, "every script is a file");
        using var script = await server.Http.GetAsync("/board.js");
        Assert.That(await script.Content.ReadAsStringAsync(), Does.Contain("new EventSource(").And.Not.Contain("WebSocket("));
    }

    [Test]
    public async Task Healthz_answers_ok_as_json()
    {
        using var response = await server.Http.GetAsync("/healthz");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.That(body.GetProperty("status").GetString(), Is.EqualTo("ok"));
        Assert.That(body.GetProperty("node").GetString(), Is.Not.Empty);
        Assert.That(body.GetProperty("storage").GetProperty("provider").GetString(), Is.EqualTo("sqlite"));
        Assert.That(body.GetProperty("storage").GetProperty("state").GetString(), Is.EqualTo("available"));
        Assert.That(body.GetProperty("bus").GetProperty("kind").GetString(), Is.EqualTo("in-process"), "one node: nothing to hear");
        Assert.That(body.GetProperty("bus").GetProperty("state").GetString(), Is.EqualTo("listening"));
        Assert.That(body.GetProperty("bus").TryGetProperty("notifications", out _), Is.False, "nothing goes over a network");
    }

    [Test]
    public async Task An_unknown_path_is_404_with_a_json_error()
    {
        using var response = await server.Http.GetAsync("/no/such/page.html");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.That(body.GetProperty("code").GetString(), Is.EqualTo("not_found"));
    }

    [TestCase("DELETE", "/healthz")]
    [TestCase("PUT", "/chat.html")]
    [TestCase("GET", "/api/users")]
    [TestCase("POST", "/chat")]
    public async Task A_wrong_method_is_405_with_allow_and_a_json_error(string method, string path)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path) { Content = new StringContent("{}") };
        using var response = await server.Http.SendAsync(request);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.MethodNotAllowed));
        Assert.That(response.Content.Headers.Allow, Is.Not.Empty);
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.That(body.GetProperty("code").GetString(), Is.EqualTo("method_not_allowed"));
    }

    [TestCase("/../chat.config.json")]
    [TestCase("/%2e%2e/chat.config.json")]
    [TestCase("/%2E%2E%2Fchat.config.json")]
    [TestCase("/..%2fchat.config.json")]
    [TestCase("/..%5cchat.config.json")]
    [TestCase("/static/../../chat.config.json")]
    [TestCase("//etc/passwd")]
    [TestCase("/%2fetc%2fpasswd")]
    [TestCase("/etc/passwd")]
    [TestCase("/.%2e/.%2e/etc/passwd")]
    [TestCase("/chat.html%00.png")]
    public async Task Traversal_never_escapes_the_static_root(string rawPath)
    {
        // Raw bytes on a socket: HttpClient would normalise the dot segments before sending.
        var (status, body) = await RawGetAsync(rawPath);
        Assert.That(status, Is.EqualTo(404).Or.EqualTo(400), body);
        Assert.That(body, Does.Not.Contain("SeedUsers").And.Not.Contain("root:"));
    }

    private async Task<(int Status, string Body)> RawGetAsync(string rawPath)
    {
        using var client = new TcpClient();
        await client.ConnectAsync(IPAddress.Loopback, server.BaseUri.Port);
        var stream = client.GetStream();
        var request = $"GET {rawPath} HTTP/1.1\r\nHost: 127.0.0.1:{server.BaseUri.Port}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var text = await reader.ReadToEndAsync().WaitAsync(TimeSpan.FromSeconds(10));
        var status = int.Parse(text.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        return (status, text);
    }
}
