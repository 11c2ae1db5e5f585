using System.Net.WebSockets;
using Microsoft.Extensions.DependencyInjection;
using TinyChat.Chat;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Acceptance;

[TestFixture]
public sealed class LivenessAndFaultTests
{
    [Test]
    public async Task A_silent_connection_is_closed_after_the_idle_timeout_with_a_reason()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["WebSocket:IdleTimeoutSeconds"] = "1" });
        await using var foo = await server.ConnectAsync("foo_token");
        await foo.WaitClosedAsync(TimeSpan.FromSeconds(10));
        Assert.That(foo.CloseStatus, Is.EqualTo(WebSocketCloseStatus.PolicyViolation));
        Assert.That(foo.CloseDescription, Does.Contain("idle timeout"));
    }

    [Test]
    public async Task The_ping_command_counts_as_activity()
    {
        var clock = new ManualClock();
        await using var server = await TestServer.StartAsync(
            new Dictionary<string, string> { ["WebSocket:IdleTimeoutSeconds"] = "1" },
            services => services.AddSingleton<TimeProvider>(clock));
        await using var foo = await server.ConnectAsync("foo_token");
        for (var i = 0; i < 3; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(0.8));
            var pong = await foo.RequestAsync(new() { ["command"] = "ping" });
            Assert.That(pong.GetProperty("pong").GetBoolean(), Is.True, "kept alive by pings for 2.4 idle timeouts");
        }

        // Silent for longer than the timeout: now the sweep closes it.
        clock.Advance(TimeSpan.FromSeconds(1.5));
        await foo.WaitClosedAsync();
        Assert.That(foo.CloseDescription, Does.Contain("idle timeout"));
    }

    [Test]
    public async Task A_room_loop_killed_under_traffic_is_restarted_and_its_members_keep_receiving()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string>
        {
            ["Limits:MessagesPerSecond"] = "0",
            ["Limits:FramesPerSecond"] = "0",
        });
        var chat = server.Services.GetRequiredService<ChatServer>();
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await foo.RequestAsync(new() { ["command"] = "create", ["room"] = "other" });
        foreach (var socket in new[] { foo, bar })
        {
            await socket.RequestAsync(new() { ["command"] = "join" });
            await socket.RequestAsync(new() { ["command"] = "join", ["room"] = "other" });
        }

        const int total = 200;
        var acknowledged = new HashSet<long>();
        var refused = 0;
        for (var i = 0; i < total; i++)
        {
            if (i == total / 2)
            {
                chat.Rooms.TryFindLive("default")!.Kill();
            }

            var reply = await foo.RequestAsync(new() { ["room"] = "default", ["message"] = $"m{i}" });
            if (reply.TryGetProperty("ok", out _))
            {
                acknowledged.Add(reply.GetProperty("id").GetInt64());
            }
            else
            {
                Assert.That(reply.GetProperty("code").GetString(), Is.EqualTo("unavailable"));
                refused++;
            }
        }

        Assert.That(refused, Is.LessThanOrEqualTo(1), "at most the in-flight message fails");
        Assert.That(acknowledged, Has.Count.GreaterThanOrEqualTo(total - 1));

        // bar received every acknowledged message, in order, and nothing twice.
        var seen = new List<long>();
        while (seen.Count < acknowledged.Count)
        {
            var frame = await bar.ExpectAsync(f => f.TryGetProperty("from", out _));
            seen.Add(frame.GetProperty("id").GetInt64());
        }

        Assert.That(seen, Is.EqualTo(acknowledged.Order().ToList()));

        // The other room never noticed.
        await bar.SendAsync(new { room = "other", message = "still here" });
        // Presence of room "other" (announced on its tick) may come first: wait for the message itself.
        var other = await foo.ExpectAsync(f => f.TryGetProperty("room", out var r) && r.GetString() == "other" && f.TryGetProperty("message", out _));
        Assert.That(other.GetProperty("message").GetString(), Is.EqualTo("still here"));
    }
}
