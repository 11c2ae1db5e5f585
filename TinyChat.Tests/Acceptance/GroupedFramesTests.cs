using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Acceptance;

/// <summary>Grouped frames (<c>batch=2</c>) over real WebSockets, beside <c>batch=1</c> and unbatched clients in one room.</summary>
[TestFixture]
public sealed class GroupedFramesTests
{
    private const int Messages = 300;
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    private TestServer server = null!;

    [SetUp]
    public async Task StartServer() => server = await TestServer.StartAsync(new Dictionary<string, string>
    {
        ["Limits:MessagesPerSecond"] = "0",
        ["Limits:FramesPerSecond"] = "0",
    });

    [TearDown]
    public async Task StopServer() => await server.DisposeAsync();

    [Test]
    public async Task As_bar_user_on_three_clients_each_gets_every_message_once_in_order_in_the_framing_it_asked_for()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await foo.RequestAsync(Frame(("command", "join")));
        var clients = new List<RawClient>();
        try
        {
            foreach (var batch in new[] { 0, 1, 2 })
            {
                clients.Add(await RawClient.JoinAsync(server, "bar_token", batch));
            }

            // Pipelined, so the room commits them in batches and a connection's outbox holds several at once.
            var sends = Enumerable.Range(0, Messages).Select(i => $"{{\"room\":\"default\",\"message\":\"m{i} \\\"q\\\"\\n\"}}");
            foreach (var text in sends)
            {
                await foo.SendTextAsync(text);
            }

            var received = await Task.WhenAll(clients.Select(c => c.ReadChatAsync(Messages)));

            var expected = Enumerable.Range(0, Messages).Select(i => $"m{i} \"q\"\n").ToArray();
            foreach (var (chats, batch) in received.Zip(new[] { 0, 1, 2 }))
            {
                Assert.That(chats.Select(c => c.Text), Is.EqualTo(expected), $"batch={batch}: every message once, in order");
                Assert.That(chats.Select(c => c.From), Is.All.EqualTo("foo_user"), $"batch={batch}");
                Assert.That(chats.Select(c => c.Id), Is.EqualTo(Enumerable.Range(0, Messages).Select(i => chats[0].Id + i)), $"batch={batch}: consecutive ids");
            }

            Assert.That(received[2], Is.EqualTo(received[0]), "a grouped message carries the same id, author, time and text");
            Assert.That(received[1], Is.EqualTo(received[0]));

            Assert.That(clients[0].Frames, Has.All.Not.Contain('\n'), "batch=0: one object per frame");
            Assert.That(clients[0].ChatShapes, Is.EquivalentTo(new[] { "object" }));
            Assert.That(clients[1].ChatShapes, Is.EquivalentTo(new[] { "object" }), "batch=1: each message its own object");
            Assert.That(clients[2].ChatShapes, Is.EquivalentTo(new[] { "group" }), "batch=2: messages only in groups");
        }
        finally
        {
            foreach (var client in clients)
            {
                client.Dispose();
            }
        }
    }

    /// <summary>A chat message as a client recovers it from any framing; time in milliseconds since 1970.</summary>
    private sealed record Chat(long Id, string From, string Text, long Ts);

    /// <summary>A WebSocket read frame by frame, as text, so the framing itself can be checked.</summary>
    private sealed class RawClient(ClientWebSocket socket) : IDisposable
    {
        private const int MaxFrames = 100_000;

        public List<string> Frames { get; } = [];

        public HashSet<string> ChatShapes { get; } = [];

        public static async Task<RawClient> JoinAsync(TestServer server, string token, int batch)
        {
            var socket = new ClientWebSocket();
            using var timeout = new CancellationTokenSource(Patience);
            await socket.ConnectAsync(server.WebSocketUri($"/chat?access_token={token}&batch={batch}"), timeout.Token);
            var client = new RawClient(socket);
            await socket.SendAsync(Encoding.UTF8.GetBytes("{\"command\":\"join\",\"ref\":\"j\"}"), WebSocketMessageType.Text, true, timeout.Token);
            for (var i = 0; i < MaxFrames; i++)
            {
                if ((await client.ReceiveAsync(timeout.Token)).Split('\n').Any(line => line.Contains("\"ref\":\"j\"", StringComparison.Ordinal)))
                {
                    return client;
                }
            }

            throw new InvalidOperationException("no answer to the join");
        }

        public async Task<List<Chat>> ReadChatAsync(int count)
        {
            using var timeout = new CancellationTokenSource(Patience);
            var chats = new List<Chat>();
            for (var i = 0; i < MaxFrames && chats.Count < count; i++)
            {
                foreach (var line in (await ReceiveAsync(timeout.Token)).Split('\n'))
                {
                    var json = JsonDocument.Parse(line).RootElement;
                    if (json.TryGetProperty("messages", out var group))
                    {
                        ChatShapes.Add("group");
                        var first = json.GetProperty("id").GetInt64();
                        var ts = json.GetProperty("ts").GetInt64();
                        var index = 0;
                        foreach (var message in group.EnumerateArray())
                        {
                            Assert.That(message.GetArrayLength(), Is.EqualTo(2));
                            chats.Add(new Chat(first + index++, message[0].GetString()!, message[1].GetString()!, ts));
                        }
                    }
                    else if (json.TryGetProperty("from", out var from) && json.TryGetProperty("id", out var id) && json.TryGetProperty("room", out _))
                    {
                        ChatShapes.Add("object");
                        var ts = DateTimeOffset.Parse(json.GetProperty("ts").GetString()!, System.Globalization.CultureInfo.InvariantCulture).ToUnixTimeMilliseconds();
                        chats.Add(new Chat(id.GetInt64(), from.GetString()!, json.GetProperty("message").GetString()!, ts));
                    }
                }
            }

            return chats;
        }

        public void Dispose()
        {
            socket.Abort();
            socket.Dispose();
        }

        private async Task<string> ReceiveAsync(CancellationToken cancellationToken)
        {
            var buffer = new byte[256 * 1024];
            var length = 0;
            while (true)
            {
                var result = await socket.ReceiveAsync(buffer.AsMemory(length), cancellationToken);
                if (result.MessageType == WebSocketMessageType.Close)
                {
                    throw new InvalidOperationException($"closed: {socket.CloseStatus} {socket.CloseStatusDescription}");
                }

                length += result.Count;
                if (result.EndOfMessage)
                {
                    var text = Encoding.UTF8.GetString(buffer, 0, length);
                    Frames.Add(text);
                    return text;
                }
            }
        }
    }
}
