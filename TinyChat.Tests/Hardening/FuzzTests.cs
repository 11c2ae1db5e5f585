using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.DependencyInjection;
using TinyChat.Hosting;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Hardening;

/// <summary>A seeded, bounded fuzz run against a live server; afterwards the server must serve a normal chat.</summary>
[TestFixture]
public sealed class FuzzTests
{
    private const int Seed = 20261122;
    private const int Frames = 3000;
    private const int HttpRequests = 300;

    [Test]
    public async Task Random_and_mutated_input_leaves_the_server_healthy()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string>
        {
            ["Limits:MessagesPerSecond"] = "0",
            ["Limits:FramesPerSecond"] = "0",
            ["Limits:ConnectionsPerMinutePerAddress"] = "0",
            ["Limits:RegistrationsPerMinutePerAddress"] = "0",
            ["WebSocket:MaxMessageBytes"] = "16384",
        });
        var random = new Random(Seed);
        await using (var warmup = await server.ConnectAsync("foo_token"))
        {
            await warmup.RequestAsync(new() { ["command"] = "join" });
        }

        var baseline = GC.GetTotalMemory(forceFullCollection: true);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        ChatSocket? socket = null;
        var reconnects = 0;
        for (var i = 0; i < Frames && DateTime.UtcNow < deadline; i++)
        {
            if (socket is null || socket.Socket.State != WebSocketState.Open)
            {
                if (socket is not null)
                {
                    await socket.DisposeAsync();
                }

                socket = await ChatSocket.ConnectAsync(server.WebSocketUri("/chat?access_token=foo_token"));
                reconnects++;
            }

            try
            {
                await SendFuzzAsync(socket, random);
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or IOException)
            {
                // The server closed this socket (1007/1009) while we wrote: the next iteration reconnects.
            }
        }

        if (socket is not null)
        {
            await socket.DisposeAsync();
        }

        for (var i = 0; i < HttpRequests && DateTime.UtcNow < deadline; i++)
        {
            await SendHttpFuzzAsync(server, random);
        }

        TestContext.Out.WriteLine($"fuzz: {Frames} frames over {reconnects} connections, {HttpRequests} HTTP requests, seed {Seed}");

        // A normal chat session still works.
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await bar.RequestAsync(new() { ["command"] = "join" });
        await foo.SendAsync(new { room = "default", message = "after the storm" });
        var message = await bar.ExpectAsync(f => f.TryGetProperty("from", out _) && f.GetProperty("message").GetString() == "after the storm");
        Assert.That(message.GetProperty("from").GetString(), Is.EqualTo("foo_user"));

        var tree = server.Services.GetRequiredService<SupervisionTree>();
        Assert.That(tree.Failure, Is.Null, "no supervisor escalated");
        Assert.That(tree.Rooms.Statistics.TotalRestarts + tree.Sessions.Statistics.TotalRestarts, Is.Zero, "no loop crashed");

        var grown = GC.GetTotalMemory(forceFullCollection: true) - baseline;
        TestContext.Out.WriteLine($"managed heap after fuzz: {grown / 1024:+#;-#;0} KiB vs baseline");
        Assert.That(grown, Is.LessThan(48L * 1024 * 1024), "memory is back near its baseline");
    }

    private static async Task SendFuzzAsync(ChatSocket socket, Random random)
    {
        switch (random.Next(10))
        {
            case 0:
                await socket.SendTextAsync(RandomJson(random, depth: 0));
                break;
            case 1:
                await socket.SendTextAsync(Mutate(random, """{"room":"default","message":"hello","ref":1}"""));
                break;
            case 2:
                string[] commands = ["join", "create", "leave", "rooms", "whoami", "ping", "history", "who", "typing", "nope", ""];
                await socket.SendTextAsync($$"""{"command":"{{commands[random.Next(commands.Length)]}}","room":{{RandomValue(random)}},"before":{{RandomValue(random)}},"limit":{{RandomValue(random)}},"to":{{RandomValue(random)}},"with":{{RandomValue(random)}}}""");
                break;
            case 3:
                var bytes = new byte[random.Next(1, 200)];
                random.NextBytes(bytes);
                await socket.Socket.SendAsync(bytes, random.Next(2) == 0 ? WebSocketMessageType.Binary : WebSocketMessageType.Text, true, CancellationToken.None);
                break;
            case 4:
                var depth = random.Next(1, 400);
                await socket.SendTextAsync(new string('[', depth) + new string(']', depth));
                break;
            case 5:
                // Fragment storm: one message in many tiny fragments.
                var pieces = random.Next(2, 300);
                for (var p = 0; p < pieces; p++)
                {
                    await socket.Socket.SendAsync("{ "u8.ToArray(), WebSocketMessageType.Text, endOfMessage: p == pieces - 1, CancellationToken.None);
                }

                break;
            case 6:
                await socket.SendTextAsync($$"""{"room":"default","message":"{{new string('x', random.Next(0, 20000))}}"}""");
                break;
            case 7:
                await socket.SendTextAsync($$"""{"command":"history","room":"default","before":{{random.NextInt64()}}{{new string('9', random.Next(0, 40))}},"limit":{{random.Next(-5, 1000)}}}""");
                break;
            case 8:
                await socket.SendTextAsync($$"""{"to":"{{RandomName(random)}}","message":"{{RandomName(random)}}","ref":{{RandomValue(random)}}}""");
                break;
            default:
                await socket.SendTextAsync($$"""{"command":"typing","room":"{{RandomName(random)}}"}""");
                break;
        }
    }

    private static async Task SendHttpFuzzAsync(TestServer server, Random random)
    {
        string[] methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "BREW"];
        string[] paths = ["/", "/chat", "/api/users", "/healthz", "/static/../x", "/%2e%2e/", "/" + RandomName(random), "/chat.html?access_token=" + RandomName(random)];
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", server.BaseUri.Port);
        var stream = client.GetStream();
        var body = random.Next(3) == 0 ? RandomJson(random, 0) : Mutate(random, """{"username":"x"}""");
        var request = $"{methods[random.Next(methods.Length)]} {paths[random.Next(paths.Length)]} HTTP/1.1\r\nHost: {server.BaseUri.Authority}\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n{body}";
        try
        {
            await stream.WriteAsync(Encoding.UTF8.GetBytes(request));
            using var reader = new StreamReader(stream);
            var status = await reader.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.That(status, Does.StartWith("HTTP/1.1 ").Or.Null);
        }
        catch (Exception ex) when (ex is IOException or TimeoutException)
        {
            // The server may refuse a malformed request by closing, or HttpListener may wait for a request that
            // never completes; either way the checks after the storm decide whether the server is still healthy.
        }
    }

    private static string RandomName(Random random)
    {
        const string alphabet = "abcxyz_-.019<>\"'\\/ é😀";
        var chars = new char[random.Next(0, 40)];
        for (var i = 0; i < chars.Length; i++)
        {
            chars[i] = alphabet[random.Next(alphabet.Length - 2)];
        }

        return new string(chars).Replace("\\", "", StringComparison.Ordinal).Replace("\"", "", StringComparison.Ordinal);
    }

    private static string RandomValue(Random random) => random.Next(8) switch
    {
        0 => "null",
        1 => "true",
        2 => random.NextInt64().ToString(System.Globalization.CultureInfo.InvariantCulture),
        3 => "1e308",
        4 => "-0.5",
        5 => "[]",
        6 => "{}",
        _ => $"\"{RandomName(random)}\"",
    };

    private static string RandomJson(Random random, int depth)
    {
        if (depth > 4 || random.Next(3) == 0)
        {
            return RandomValue(random);
        }

        var fields = Enumerable.Range(0, random.Next(0, 6)).Select(_ =>
        {
            string[] keys = ["command", "room", "message", "to", "with", "before", "after", "limit", "ref", RandomName(random)];
            return $"\"{keys[random.Next(keys.Length)]}\":{RandomJson(random, depth + 1)}";
        });
        return "{" + string.Join(",", fields) + "}";
    }

    private static string Mutate(Random random, string text)
    {
        var chars = text.ToCharArray().ToList();
        for (var m = random.Next(1, 5); m > 0 && chars.Count > 0; m--)
        {
            var at = random.Next(chars.Count);
            switch (random.Next(3))
            {
                case 0: chars.RemoveAt(at); break;
                case 1: chars.Insert(at, "{}[]\",:\\0a"[random.Next(10)]); break;
                default: chars[at] = (char)random.Next(32, 127); break;
            }
        }

        return new string([.. chars]);
    }
}
