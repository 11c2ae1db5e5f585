using System.Net.Sockets;
using System.Text;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Acceptance;

/// <summary>A refused WebSocket upgrade is an HTTP answer the client can read to the end, then a clean close.</summary>
public sealed class UpgradeRefusalTests
{
    private TestServer server = null!;

    [OneTimeSetUp]
    public async Task StartServer() => server = await TestServer.StartAsync(new Dictionary<string, string>
    {
        ["Limits:MaxConnectionsPerUser"] = "1",
    });

    [OneTimeTearDown]
    public async Task StopServer() => await server.DisposeAsync();

    [TestCase("/chat?access_token=wrong", "", "401", "invalid_token")]
    [TestCase("/chat", "", "401", "missing_token")]
    [TestCase("/chat?access_token=bar_token", "Origin: http://evil.example\r\n", "403", "origin_not_allowed")]
    [TestCase("/chat?access_token=bar_token&batch=3", "", "400", "invalid_batch")]
    [TestCase("/chat?access_token=bar_token&batch=true", "", "400", "invalid_batch")]
    public async Task As_a_client_refused_at_the_upgrade_I_read_the_whole_error_then_the_server_closes_cleanly(string target, string extraHeaders, string status, string code)
    {
        var (response, endedCleanly) = await UpgradeAsync(target, extraHeaders);

        Assert.That(response, Does.StartWith($"HTTP/1.1 {status} "));
        Assert.That(response, Does.Contain("Connection: close").IgnoreCase);
        Assert.That(response, Does.Contain($"\"code\":\"{code}\""));
        Assert.That(endedCleanly, Is.True, "FIN, not a reset or a connection left open");
    }

    [Test]
    public async Task As_foo_user_over_my_connection_limit_I_get_429_and_a_clean_close()
    {
        await using var open = await server.ConnectAsync("foo_token");

        var (response, endedCleanly) = await UpgradeAsync("/chat?access_token=foo_token", "");

        Assert.That(response, Does.StartWith("HTTP/1.1 429 "));
        Assert.That(response, Does.Contain("\"code\":\"too_many_connections\""));
        Assert.That(endedCleanly, Is.True);
    }

    private async Task<(string Response, bool EndedCleanly)> UpgradeAsync(string target, string extraHeaders)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", server.BaseUri.Port);
        var stream = client.GetStream();
        var request = $"GET {target} HTTP/1.1\r\nHost: {server.BaseUri.Authority}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n" +
            $"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extraHeaders}\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(request));

        using var timeout = new CancellationTokenSource(ChatSocket.DefaultTimeout);
        var received = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                var read = await stream.ReadAsync(buffer, timeout.Token);
                if (read == 0)
                {
                    return (Encoding.UTF8.GetString(received.ToArray()), true);
                }

                received.Write(buffer, 0, read);
            }
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            return (Encoding.UTF8.GetString(received.ToArray()), false);
        }
    }
}
