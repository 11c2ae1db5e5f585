using System.Text.Json;
using TinyChat.Tests.HttpApi;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Operations;

/// <summary>Logging:Format json: one JSON object per line, connection, user and room as fields, never a token.</summary>
[Category("Process")]
public sealed class JsonLogTests
{
    [Test]
    public async Task Every_line_is_a_json_object_with_connection_fields_and_no_token()
    {
        using var config = new TempConfig();
        var data = Path.Combine(config.Directory, "data");
        var port = ServerProcess.FreePort();
        await using var server = await ServerProcess.StartAsync(config.Path, port, "--data", data, "--Logging:Format", "json", "--Logging:LogLevel:Default", "Debug");

        await using (var foo = await ChatSocket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/chat?access_token=foo_token")))
        {
            await foo.RequestAsync(Frame(("command", "join")));
            await foo.RequestAsync(Frame(("room", "default"), ("message", "hello logs")));
            await using var stream = await SseClient.OpenAsync(server.BaseUri, "/api/rooms/default/events", "foo_token");
            await server.WaitForOutputAsync("Event stream opened", TimeSpan.FromSeconds(10));
        }

        // A connection the server closes itself logs with its scope too.
        using (var http = new HttpClient())
        {
            await http.GetAsync(new Uri(server.BaseUri, "/chat?access_token=wrong_token_123"));
        }

        await server.SignalAsync("TERM");
        Assert.That(await server.WaitForExitAsync(TimeSpan.FromSeconds(20)), Is.Zero, server.Output);

        var lines = server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.That(lines, Has.Length.GreaterThan(5));
        var entries = lines.Select(line =>
        {
            try
            {
                return JsonDocument.Parse(line).RootElement;
            }
            catch (JsonException ex)
            {
                throw new AssertionException($"not a JSON line: {line} ({ex.Message})");
            }
        }).ToList();

        foreach (var entry in entries)
        {
            Assert.That(entry.ValueKind, Is.EqualTo(JsonValueKind.Object));
            Assert.That(entry.TryGetProperty("Timestamp", out _) && entry.TryGetProperty("LogLevel", out _) && entry.TryGetProperty("Category", out _), Is.True, entry.ToString());
        }

        foreach (var secret in new[] { "foo_token", "bar_token", "wrong_token_123" })
        {
            Assert.That(server.Output, Does.Not.Contain(secret));
        }

        var opened = entries.Single(e => e.GetProperty("Message").GetString()!.StartsWith("JSON connection", StringComparison.Ordinal) && e.GetProperty("Message").GetString()!.Contains("opened", StringComparison.Ordinal));
        var scope = opened.GetProperty("Scopes").EnumerateArray().Single(s => s.ValueKind == JsonValueKind.Object && s.TryGetProperty("ConnectionId", out _));
        Assert.That(scope.GetProperty("User").GetString(), Is.EqualTo("foo_user"));
        Assert.That(scope.GetProperty("Door").GetString(), Is.EqualTo("JSON"));

        var sse = entries.Single(e => e.GetProperty("Message").GetString()!.StartsWith("Event stream opened", StringComparison.Ordinal));
        var sseScope = sse.GetProperty("Scopes").EnumerateArray().Single(s => s.ValueKind == JsonValueKind.Object && s.TryGetProperty("ConnectionId", out _));
        Assert.That(sseScope.GetProperty("User").GetString(), Is.EqualTo("foo_user"));
        Assert.That(sseScope.GetProperty("Room").GetString(), Is.EqualTo("default"));
    }
}
