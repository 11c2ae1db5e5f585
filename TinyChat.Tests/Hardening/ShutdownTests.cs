using System.Net.WebSockets;
using System.Text.Json;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Hardening;

[TestFixture]
public sealed class ShutdownTests
{
    [Test]
    public async Task On_shutdown_every_acknowledged_message_is_delivered_before_the_1001_close()
    {
        var server = await TestServer.StartAsync(new Dictionary<string, string>
        {
            ["Limits:MessagesPerSecond"] = "0",
            ["Limits:FramesPerSecond"] = "0",
        });
        try
        {
            await using var foo = await server.ConnectAsync("foo_token");
            await using var bar = await server.ConnectAsync("bar_token");
            await foo.RequestAsync(new() { ["command"] = "join" });
            await bar.RequestAsync(new() { ["command"] = "join" });

            // Fire 300 messages without waiting, then stop the server while they are in flight.
            for (var i = 0; i < 300; i++)
            {
                await foo.SendAsync(new Dictionary<string, object> { ["room"] = "default", ["message"] = $"m{i}", ["ref"] = i });
            }

            // Stop once the server is mid-stream: some acknowledged, more still queued.
            var seenByFoo = new List<JsonElement>();
            await foo.ExpectAsync(f =>
            {
                seenByFoo.Add(f);
                return f.TryGetProperty("ok", out _) && f.GetProperty("ref").GetInt32() >= 20;
            });
            await server.StopAsync();
            await foo.WaitClosedAsync();
            await bar.WaitClosedAsync();
            Assert.That(foo.CloseStatus, Is.EqualTo(WebSocketCloseStatus.EndpointUnavailable));
            Assert.That(bar.CloseStatus, Is.EqualTo(WebSocketCloseStatus.EndpointUnavailable));

            var acknowledged = seenByFoo.Concat(Drain(foo)).Where(f => f.TryGetProperty("ok", out _)).Select(f => f.GetProperty("id").GetInt64()).ToHashSet();
            var delivered = Drain(bar).Where(f => f.TryGetProperty("from", out _)).Select(f => f.GetProperty("id").GetInt64()).ToHashSet();
            TestContext.Out.WriteLine($"acknowledged {acknowledged.Count} of 300 before shutdown; bar received {delivered.Count}");
            Assert.That(acknowledged, Is.Not.Empty);
            Assert.That(delivered, Is.SupersetOf(acknowledged), "nothing acknowledged is lost");
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    private static List<JsonElement> Drain(ChatSocket socket)
    {
        var frames = new List<JsonElement>();
        while (true)
        {
            try
            {
                frames.Add(socket.ReceiveAsync(TimeSpan.FromMilliseconds(1)).GetAwaiter().GetResult());
            }
            catch (Exception ex) when (ex is TimeoutException or InvalidOperationException)
            {
                return frames;
            }
        }
    }
}
