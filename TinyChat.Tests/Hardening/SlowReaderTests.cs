using System.Diagnostics;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using TinyChat.Tests.Support;
using TinyChat.Web;

namespace TinyChat.Tests.Hardening;

[TestFixture]
// Measures latency and process-wide memory growth: alone, so other fixtures neither slow it nor allocate into its figure.
[NonParallelizable]
public sealed class SlowReaderTests
{
    [Test]
    public async Task A_client_that_never_reads_is_cut_off_and_the_others_do_not_wait_for_it()
    {
        var logs = new LogCapture();
        await using var server = await TestServer.StartAsync(
            new Dictionary<string, string>
            {
                ["WebSocket:OutboxCapacity"] = "64",
                ["Limits:MessagesPerSecond"] = "0",
                ["Limits:FramesPerSecond"] = "0",
            },
            logs.Install);
        var open = server.Services.GetRequiredService<OpenConnections>();
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await foo.RequestAsync(new() { ["command"] = "join" });
        await bar.RequestAsync(new() { ["command"] = "join" });

        // The slow reader: a third user with a tiny receive buffer that never calls ReceiveAsync.
        var token = await server.RegisterAsync("sloth");
        using var slow = new ClientWebSocket();
        using var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 4096 };
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
        };
        await slow.ConnectAsync(server.WebSocketUri($"/chat?access_token={token}"), new HttpMessageInvoker(handler), CancellationToken.None);
        await slow.SendAsync(Encoding.UTF8.GetBytes("{\"command\":\"join\"}"), WebSocketMessageType.Text, true, CancellationToken.None);
        await foo.ExpectAsync(f => f.TryGetProperty("presence_diff", out var d) && d.GetProperty("joins").TryGetProperty("sloth", out _));

        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        const int total = 3000;
        var text = new string('z', 2000);
        var latencies = new List<double>(total);
        for (var i = 0; i < total; i++)
        {
            var sent = Stopwatch.GetTimestamp();
            await foo.SendAsync(new { room = "default", message = $"{i}:{text}" });
            var got = await bar.ExpectAsync(f => f.TryGetProperty("from", out _));
            latencies.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
            Assert.That(got.GetProperty("message").GetString(), Does.StartWith($"{i}:"));
        }

        // The server cut the slow reader: its close frame cannot get through, so it is aborted after a short grace.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (open.Count > 2 && DateTime.UtcNow < deadline)
        {
            await bar.RequestAsync(new() { ["command"] = "ping" });
        }

        Assert.That(open.Count, Is.EqualTo(2), "the slow reader was disconnected");
        Assert.That(logs.Lines.Count(l => l.Contains("slow reader", StringComparison.Ordinal) && l.Contains("User=sloth", StringComparison.Ordinal)), Is.EqualTo(1));
        latencies.Sort();
        var p50 = latencies[total / 2];
        var p99 = latencies[(int)(total * 0.99)];
        TestContext.Out.WriteLine($"others' send->receive latency with a stalled reader: p50 {p50:F2} ms, p99 {p99:F2} ms over {total} messages");
        Assert.That(p99, Is.LessThan(1000), "no message waited for the stalled reader's socket");
        var grown = GC.GetTotalMemory(forceFullCollection: true) - baseline;
        TestContext.Out.WriteLine($"managed heap growth: {grown / 1024} KiB");
        Assert.That(grown, Is.LessThan(64L * 1024 * 1024), "memory stays bounded");
    }
}
