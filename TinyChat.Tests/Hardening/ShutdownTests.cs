using System.Net.WebSockets;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using TinyChat.Chat;
using TinyChat.Storage;
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

            var acknowledged = seenByFoo.Concat(foo.TakeQueued()).Where(f => f.TryGetProperty("ok", out _)).Select(f => f.GetProperty("id").GetInt64()).ToHashSet();
            var delivered = bar.TakeQueued().Where(f => f.TryGetProperty("from", out _)).Select(f => f.GetProperty("id").GetInt64()).ToHashSet();
            TestContext.Out.WriteLine($"acknowledged {acknowledged.Count} of 300 before shutdown; bar received {delivered.Count}");
            Assert.That(acknowledged, Is.Not.Empty);
            Assert.That(delivered, Is.SupersetOf(acknowledged), "nothing acknowledged is lost");
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Test]
    public async Task A_batch_still_at_the_store_when_shutdown_begins_reaches_every_member_before_the_1001_close()
    {
        var held = new HeldRoomCommits();
        var logs = new LogCapture();
        var server = await TestServer.StartAsync(
            new Dictionary<string, string>
            {
                ["Limits:MessagesPerSecond"] = "0",
                ["Limits:FramesPerSecond"] = "0",
                ["Logging:LogLevel:TinyChat.Hosting.ShutdownOrder"] = "Information",
            },
            services =>
            {
                logs.Install(services);
                services.AddSingleton<IMessageStore>(sp => held.Around(sp.GetRequiredService<IDurableStore>()));
            });
        try
        {
            await using var foo = await server.ConnectAsync("foo_token");
            await using var bar = await server.ConnectAsync("bar_token");
            await foo.RequestAsync(new() { ["command"] = "join" });
            await bar.RequestAsync(new() { ["command"] = "join" });

            held.Hold();
            for (var i = 0; i < 5; i++)
            {
                await foo.SendAsync(new Dictionary<string, object> { ["room"] = "default", ["message"] = $"m{i}", ["ref"] = i });
            }

            var atTheStore = await held.Reached.WaitAsync(ChatSocket.DefaultTimeout);
            var stopping = server.StopAsync();

            // The store lets the batch through once shutdown has gone as far as it can without the room: it waits
            // for the rooms to stop accepting, or (were that step missing) closes the connections.
            var roomsAsked = logs.WaitForAsync(line => line.Contains("Rooms stop accepting", StringComparison.Ordinal), 1, ChatSocket.DefaultTimeout);
            await Task.WhenAny(roomsAsked, bar.Closed).WaitAsync(ChatSocket.DefaultTimeout);
            held.Release();
            await stopping;
            await foo.WaitClosedAsync();
            await bar.WaitClosedAsync();
            Assert.That((foo.CloseStatus, bar.CloseStatus), Is.EqualTo((WebSocketCloseStatus.EndpointUnavailable, WebSocketCloseStatus.EndpointUnavailable)));

            var fooFrames = foo.TakeQueued();
            var barFrames = bar.TakeQueued();
            var toBar = barFrames.Where(f => f.TryGetProperty("from", out _)).ToDictionary(f => f.GetProperty("id").GetInt64(), f => f.GetProperty("message").GetString());
            var echoed = fooFrames.Where(f => f.TryGetProperty("from", out _)).Select(f => f.GetProperty("message").GetString()).ToList();
            var acknowledged = fooFrames.Where(f => f.TryGetProperty("ok", out _)).Select(f => f.GetProperty("id").GetInt64()).ToList();
            TestContext.Out.WriteLine($"at the store: {string.Join(",", atTheStore)}; bar received {string.Join(",", toBar.Values)}; foo acknowledged {acknowledged.Count}");
            Assert.That(toBar.Values, Is.SupersetOf(atTheStore), "committed after shutdown began, delivered before the close");
            Assert.That(echoed, Is.SupersetOf(atTheStore), "the sender sees its own words too");
            Assert.That(toBar.Keys, Is.SupersetOf(acknowledged), "nothing acknowledged is lost");
        }
        finally
        {
            held.Release();
            await server.DisposeAsync();
        }
    }

    /// <summary>A message store whose room batches wait, while held, until released; everything else passes through.</summary>
    private sealed class HeldRoomCommits
    {
        private readonly TaskCompletionSource<IReadOnlyList<string>> reached = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private TaskCompletionSource released = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The texts of the first batch that met the hold.</summary>
        public Task<IReadOnlyList<string>> Reached => reached.Task;

        public void Hold() => Volatile.Write(ref released, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));

        public void Release() => Volatile.Read(ref released).TrySetResult();

        public IMessageStore Around(IMessageStore inner)
        {
            Release();
            return new Store(inner, this);
        }

        private sealed class Store(IMessageStore inner, HeldRoomCommits hold) : ForwardingMessageStore(inner)
        {
            public override ValueTask<Task<long>> QueueRoomBatchAsync(string room, RoomBatch batch, Task<long>? after, CancellationToken cancellationToken) =>
                ValueTask.FromResult(CommitAfterReleaseAsync(room, batch, after, cancellationToken));

            private async Task<long> CommitAfterReleaseAsync(string room, RoomBatch batch, Task<long>? after, CancellationToken cancellationToken)
            {
                var released = Volatile.Read(ref hold.released).Task;
                if (!released.IsCompleted)
                {
                    // The writer reached the batch and is stuck writing it: nothing joins it from here on.
                    hold.reached.TrySetResult([.. batch.Close().Select(m => m.Text)]);
                    await released;
                }

                return await await base.QueueRoomBatchAsync(room, batch, after, cancellationToken);
            }
        }
    }
}
