using System.Net.Sockets;
using System.Text;
using TinyChat.Tests.Support;
using static TinyChat.Tests.HttpApi.Api;

namespace TinyChat.Tests.HttpApi;

/// <summary>
/// Requests without a body, sent byte for byte as curl sends <c>curl -X PUT URL</c>: the managed HttpListener answers a
/// POST or PUT that has neither <c>Content-Length</c> nor a chunked body with its own 411 and closes the connection,
/// yet still hands the request to the server, which must neither act on it nor fail on its closed connection.
/// </summary>
[TestFixture]
public sealed class BodylessRequestTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private LogCapture logs = null!;
    private TestServer server = null!;

    [SetUp]
    public async Task StartAsync()
    {
        logs = new LogCapture();
        server = await TestServer.StartAsync(new Dictionary<string, string> { ["Logging:LogLevel:Default"] = "Debug" }, logs.Install);
    }

    [TearDown]
    public async Task StopAsync() => await server.DisposeAsync();

    [Test]
    public async Task A_put_to_join_without_content_length_gets_411_joins_nothing_and_logs_no_error()
    {
        var token = await server.RegisterAsync("no_length");
        var head = $"PUT /api/rooms/default/membership HTTP/1.1\r\nHost: {server.BaseUri.Authority}\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nAuthorization: Bearer {token}\r\n";

        var answer = await RawAsync(head + "\r\n");

        Assert.That(answer, Does.StartWith("HTTP/1.1 411 Length Required"));
        await logs.WaitForAsync(Handled, 1, Patience);
        Assert.That(logs.Lines, Has.None.StartsWith("Error").And.None.StartsWith("Critical"));
        Assert.That(logs.Lines.Count(Handled), Is.EqualTo(1), "the server saw the request");
        var (_, me, _) = await GetAsync(server.Http, "/api/me", token);
        Assert.That(me.GetProperty("joined").EnumerateArray(), Is.Empty, "a request the client was told failed changed nothing");

        // The same request with an empty body announced is a join.
        Assert.That(await RawAsync(head + "Content-Length: 0\r\nConnection: close\r\n\r\n"), Does.StartWith("HTTP/1.1 201"));
    }

    [Test]
    public async Task Every_post_and_put_without_a_length_gets_411_with_one_a_clear_answer_and_deletes_need_none()
    {
        var writes = new[]
        {
            "PUT /api/rooms/default/membership", "POST /api/rooms", "POST /api/rooms/default/messages", "PUT /api/rooms/default/topic",
            "POST /api/rooms/default/invite", "POST /api/rooms/default/mute", "POST /api/users/bar_user/messages", "POST /api/users",
            "POST /api/invites", "POST /socket/longpoll?vsn=2.0.0&token=foo_token",
        };
        foreach (var write in writes)
        {
            Assert.That(await RawAsync(Request(write)), Does.StartWith("HTTP/1.1 411 "), write);
        }

        await logs.WaitForAsync(Handled, writes.Length, Patience);
        Assert.That(logs.Lines, Has.None.StartsWith("Error").And.None.StartsWith("Critical"));
        Assert.That(logs.Lines.Count(Handled), Is.EqualTo(writes.Length));

        foreach (var write in writes)
        {
            var answer = await RawAsync(Request(write, "Content-Length: 0\r\n"));
            AssertClear(answer, write);
        }

        foreach (var delete in new[] { "DELETE /api/rooms/default/messages/999999", "DELETE /api/rooms/no_such_room", "DELETE /api/invites/999999", "DELETE /api/rooms/default/membership" })
        {
            AssertClear(await RawAsync(Request(delete)), delete);
        }

        // PATCH is not held to a length by the listener: an empty edit is refused by the server itself.
        AssertClear(await RawAsync(Request("PATCH /api/rooms/default/messages/1")), "PATCH");
        Assert.That(logs.Lines, Has.None.StartsWith("Error").And.None.StartsWith("Critical"));
    }

    // The server's word on a request the listener answered: dropped quietly (fixed) or failed loudly (the bug).
    private static bool Handled(string line) =>
        line.Contains("already answered 411", StringComparison.Ordinal) || line.StartsWith("Error", StringComparison.Ordinal);

    private string Request(string methodAndPath, string extraHeaders = "") =>
        $"{methodAndPath} HTTP/1.1\r\nHost: {server.BaseUri.Authority}\r\nAuthorization: Bearer foo_token\r\n{extraHeaders}Connection: close\r\n\r\n";

    private static void AssertClear(string answer, string what)
    {
        var status = int.Parse(answer.AsSpan(9, 3));
        Assert.That(status, Is.InRange(200, 499), $"{what}: {answer}");
        if (status >= 400)
        {
            Assert.That(answer, Does.Contain("\"code\":"), $"{what}: an error names its code");
        }
    }

    // Sends one request as raw bytes and reads the answer until the server closes the connection.
    private async Task<string> RawAsync(string request)
    {
        using var timeout = new CancellationTokenSource(Patience);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.BaseUri.Host, server.BaseUri.Port, timeout.Token);
        var stream = tcp.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request), timeout.Token);
        var received = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        return Encoding.UTF8.GetString(received.ToArray());
    }
}
