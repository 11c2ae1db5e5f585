using System.Diagnostics;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Hardening;

/// <summary>
/// Issue 17 item 2: a client that is still sending when the server answers an error (413, a 1009 close) reads that
/// answer every time, because the server reads and discards its input for a while before it closes.
/// </summary>
[TestFixture]
public sealed class LingeringCloseTests
{
    private const int Attempts = 20;
    private const int OversizedBody = 5 * 1024 * 1024;

    private static readonly Dictionary<string, string> Unlimited = new()
    {
        ["Limits:RegistrationsPerMinutePerAddress"] = "0",
        ["Limits:ConnectionsPerMinutePerAddress"] = "0",
        ["WebSocket:MaxMessageBytes"] = "4096",
    };

    [TestCase("keep-alive")]
    [TestCase("close")]
    public async Task A_raw_client_still_sending_a_5_MB_body_reads_the_413_20_times_in_20(string connection)
    {
        await using var server = await TestServer.StartAsync(Unlimited);
        var statuses = new List<string>();
        for (var i = 0; i < Attempts; i++)
        {
            statuses.Add(await PostOversizedAsync(server.BaseUri.Port, connection));
        }

        Assert.That(statuses, Is.All.EqualTo("413"), string.Join(", ", statuses));
    }

    [Test]
    public async Task A_websocket_client_still_sending_an_oversized_message_reads_1009_20_times_in_20()
    {
        await using var server = await TestServer.StartAsync(Unlimited);
        var closes = new List<string>();
        var message = new string('x', 1024 * 1024);
        for (var i = 0; i < Attempts; i++)
        {
            await using var socket = await server.ConnectAsync("foo_token");
            try
            {
                await socket.SendTextAsync(message);
            }
            catch (WebSocketException)
            {
                // The server may end the connection while the client is still sending; what it read decides.
            }

            await socket.WaitClosedAsync();
            closes.Add(socket.CloseStatus?.ToString() ?? "no close frame (1006)");
        }

        Assert.That(closes, Is.All.EqualTo(nameof(WebSocketCloseStatus.MessageTooBig)), string.Join(", ", closes));
    }

    [Test]
    [Category("Process")]
    public async Task Nodes_http_client_reads_the_413_of_a_5_MB_post_20_times_in_20()
    {
        await using var server = await TestServer.StartAsync(Unlimited);
        var outcome = await RunNodeAsync("http", server.BaseUri.Port, OversizedBody);
        Assert.That(outcome.GetProperty("read").GetInt32(), Is.EqualTo(Attempts), outcome.ToString());
    }

    [Test]
    [Category("Process")]
    public async Task Nodes_ws_client_reads_the_1009_close_of_an_oversized_message_20_times_in_20()
    {
        await using var server = await TestServer.StartAsync(Unlimited);
        var outcome = await RunNodeAsync("ws", server.BaseUri.Port, 1024 * 1024, "foo_token");
        Assert.That(outcome.GetProperty("read").GetInt32(), Is.EqualTo(Attempts), outcome.ToString());
    }

    /// <summary>Sends the headers of a 5 MB POST, keeps sending the body in the background and returns the status it read.</summary>
    private static async Task<string> PostOversizedAsync(int port, string connection)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        var stream = client.GetStream();
        var head = $"POST /api/users HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {OversizedBody}\r\nConnection: {connection}\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        var sending = Task.Run(async () =>
        {
            var chunk = new byte[64 * 1024];
            try
            {
                for (var sent = 0; sent < OversizedBody; sent += chunk.Length)
                {
                    await stream.WriteAsync(chunk);
                }
            }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException)
            {
                // The server stopped reading and closed, or the answer is in and the client hung up.
            }
        });

        var answer = new StringBuilder();
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            while (!answer.ToString().Contains("\r\n", StringComparison.Ordinal))
            {
                var read = await stream.ReadAsync(buffer, timeout.Token);
                if (read == 0)
                {
                    break;
                }

                answer.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
        }
        catch (IOException ex)
        {
            return $"reset ({ex.InnerException?.Message ?? ex.Message})";
        }

        client.Close();
        await sending.WaitAsync(TimeSpan.FromSeconds(15));
        var statusLine = answer.ToString().Split("\r\n")[0];
        return statusLine.StartsWith("HTTP/1.1 ", StringComparison.Ordinal) ? statusLine[9..12] : $"nothing ({statusLine})";
    }

    private static async Task<JsonElement> RunNodeAsync(string mode, int port, int bytes, string token = "")
    {
        // The Phoenix tests' pinned node_modules (installed by `make test`) hold the ws client.
        var phoenixScripts = Path.GetFullPath(Path.Combine(ScriptDirectory(), "..", "..", "Phoenix", "js"));
        if (!Directory.Exists(Path.Combine(phoenixScripts, "node_modules", "ws")))
        {
            Assert.Fail($"the ws npm package is not installed in {phoenixScripts}: run `make test` (or `npm ci` there)");
        }

        var info = new ProcessStartInfo("node")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(Path.Combine(ScriptDirectory(), "lingering.mjs"));
        foreach (var argument in new[] { mode, port.ToString(System.Globalization.CultureInfo.InvariantCulture), Attempts.ToString(System.Globalization.CultureInfo.InvariantCulture), bytes.ToString(System.Globalization.CultureInfo.InvariantCulture), token })
        {
            info.ArgumentList.Add(argument);
        }

        info.Environment["TINYCHAT_NODE_MODULES"] = phoenixScripts;
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        }
        catch (TimeoutException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        var text = await output;
        Assert.That(process.ExitCode, Is.Zero, $"node failed: {text}{await errors}");
        return JsonDocument.Parse(text.Trim().Split('\n')[^1]).RootElement.Clone();
    }

    private static string ScriptDirectory([System.Runtime.CompilerServices.CallerFilePath] string here = "") => Path.Combine(Path.GetDirectoryName(here)!, "js");
}
