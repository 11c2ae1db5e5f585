using System.Text.Json;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Web;

/// <summary>
/// Bursts of one-message frames (Phoenix, native without batch=1) read off the wire by a client that parses frames
/// itself: each frame whole, a single text frame, and in order, with the write-many cork in between.
/// </summary>
[TestFixture]
public sealed class FrameBurstTests
{
    private const int Burst = 150;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private static readonly Dictionary<string, string> Unlimited = new()
    {
        ["Limits:MessagesPerSecond"] = "0",
        ["Limits:FramesPerSecond"] = "0",
    };

    [Test]
    public async Task A_phoenix_v2_client_catching_up_gets_every_message_as_its_own_intact_frame_in_order()
    {
        await using var server = await TestServer.StartAsync(Unlimited);
        await using var native = await server.ConnectAsync("bar_token");
        await native.RequestAsync(new() { ["command"] = "join" });
        for (var i = 0; i < Burst; i++)
        {
            await native.RequestAsync(new() { ["room"] = "default", ["message"] = $"m{i}" });
        }

        // The catch-up is queued at once, so the outbox hands the transport runs of frames (write-many).
        using var timeout = new CancellationTokenSource(Patience);
        using var raw = await RawWebSocket.ConnectAsync(server.BaseUri, "/socket/websocket?token=foo_token&vsn=2.0.0", timeout.Token);
        await raw.SendTextAsync("""["1","1","room:default","phx_join",{"last_id":0}]""", timeout.Token);
        var bodies = new List<string?>();
        for (var frames = 0; bodies.Count < Burst && frames < 10 * Burst; frames++)
        {
            var frame = await raw.ReceiveAsync(timeout.Token);
            Assert.That((frame.Final, frame.Opcode), Is.EqualTo((true, 1)), "a whole text frame");
            using var document = JsonDocument.Parse(frame.Payload);
            var message = document.RootElement;
            Assert.That(message.ValueKind, Is.EqualTo(JsonValueKind.Array), frame.Text);
            Assert.That(message.GetArrayLength(), Is.EqualTo(5), frame.Text);
            if (message[3].GetString() == "new_msg")
            {
                bodies.Add(message[4].GetProperty("body").GetString());
            }
        }

        Assert.That(bodies, Is.EqualTo(Enumerable.Range(0, Burst).Select(i => $"m{i}")));
    }

    [Test]
    public async Task A_native_client_without_batching_gets_a_pipelined_burst_as_one_intact_frame_per_message_in_order()
    {
        await using var server = await TestServer.StartAsync(Unlimited);
        using var timeout = new CancellationTokenSource(Patience);
        using var raw = await RawWebSocket.ConnectAsync(server.BaseUri, "/chat?access_token=bar_token", timeout.Token);
        await raw.SendTextAsync("""{"command":"join","ref":1}""", timeout.Token);
        await using var sender = await server.ConnectAsync("foo_token");
        await sender.RequestAsync(new() { ["command"] = "join" });

        // Sent without waiting for acknowledgements, so the room fans them out faster than one at a time.
        for (var i = 0; i < Burst; i++)
        {
            await sender.SendAsync(new Dictionary<string, object?> { ["room"] = "default", ["message"] = $"burst {i}" });
        }

        var messages = new List<string?>();
        for (var frames = 0; messages.Count < Burst && frames < 10 * Burst; frames++)
        {
            var frame = await raw.ReceiveAsync(timeout.Token);
            Assert.That((frame.Final, frame.Opcode), Is.EqualTo((true, 1)), "a whole text frame");
            using var document = JsonDocument.Parse(frame.Payload);
            var message = document.RootElement;
            Assert.That(message.ValueKind, Is.EqualTo(JsonValueKind.Object), "one JSON object per frame: " + frame.Text);
            if (message.TryGetProperty("message", out var text) && text.GetString() is { } body && body.StartsWith("burst ", StringComparison.Ordinal))
            {
                messages.Add(body);
            }
        }

        Assert.That(messages, Is.EqualTo(Enumerable.Range(0, Burst).Select(i => $"burst {i}")));
    }
}
