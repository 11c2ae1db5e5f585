using System.Text.Json.Nodes;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Cluster;

/// <summary>Two nodes on a PostgreSQL server of the test's own, stopped and started again under traffic.</summary>
[TestFixture]
[Category("Process")]
[Category("Postgres")]
public sealed class ClusterOutageTests
{
    [Test]
    public async Task PostgreSQL_stopped_and_restarted_under_traffic_loses_nothing_acknowledged_on_any_node()
    {
        await using var postgres = await PostgresServer.StartAsync();
        var connectionString = await postgres.CreateDatabaseAsync();
        using var config = new TempConfig(c =>
        {
            c["Limits"] = JsonNode.Parse("""{"MessagesPerSecond":0,"FramesPerSecond":0}""");
            c["Chat"]!["SeedUsers"] = JsonNode.Parse("""[{"Username":"alice","Token":"alice_token"},{"Username":"bob","Token":"bob_token"}]""");
        });
        string[] cluster = ["--Storage:Provider", "postgres", "--Storage:ConnectionString", connectionString, "--Cluster:HeartbeatSeconds", "1", "--Cluster:NodeTimeoutSeconds", "3"];
        await using var a = await ServerProcess.StartAsync(config.Path, ServerProcess.FreePort(), [.. cluster, "--Cluster:NodeName", "node-a"]);
        await using var b = await ServerProcess.StartAsync(config.Path, ServerProcess.FreePort(), [.. cluster, "--Cluster:NodeName", "node-b"]);
        await using var alice = await ChatSocket.ConnectAsync(new Uri($"ws://{a.BaseUri.Authority}/chat?access_token=alice_token"));
        await using var bob = await ChatSocket.ConnectAsync(new Uri($"ws://{b.BaseUri.Authority}/chat?access_token=bob_token"));
        await alice.RequestAsync(Frame(("command", "create"), ("room", "lobby")));
        await alice.RequestAsync(Frame(("command", "join"), ("room", "lobby")));
        await bob.RequestAsync(Frame(("command", "join"), ("room", "lobby")));

        var acknowledged = new List<(long Id, string Text)>();
        var refused = 0;
        async Task<bool> PostAsync(string text)
        {
            var reply = await alice.RequestAsync(Frame(("room", "lobby"), ("message", text)));
            if (reply.TryGetProperty("ok", out _))
            {
                acknowledged.Add((reply.GetProperty("id").GetInt64(), text));
                return true;
            }

            Assert.That(reply.GetProperty("code").GetString(), Is.EqualTo("unavailable"), reply.ToString());
            refused++;
            return false;
        }

        for (var i = 0; i < 20; i++)
        {
            Assert.That(await PostAsync($"before {i}"), Is.True);
        }

        await postgres.StopAsync();
        for (var i = 0; i < 5; i++)
        {
            await PostAsync($"during {i}");
        }

        await postgres.RestartAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        for (var i = 0; !await PostAsync($"recovering {i}"); i++)
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "the node did not recover by itself");
            await Task.Delay(200);
        }

        for (var i = 0; i < 20; i++)
        {
            Assert.That(await PostAsync($"after {i}"), Is.True);
        }

        Assert.That(refused, Is.GreaterThan(0), "the outage was seen");

        // bob on the other node got every acknowledged message once, in order (live or caught up after the outage).
        var received = new List<(long, string)>();
        while (received.Count < acknowledged.Count)
        {
            var frame = await bob.ExpectAsync(f => f.TryGetProperty("from", out _) && f.TryGetProperty("id", out _), TimeSpan.FromSeconds(30));
            received.Add((frame.GetProperty("id").GetInt64(), frame.GetProperty("message").GetString()!));
        }

        Assert.That(received, Is.EqualTo(acknowledged));
        // A read may still meet the store's outage answer while the pool reconnects: ask again, a bounded number of times.
        var history = await bob.RequestAsync(Frame(("command", "history"), ("room", "lobby"), ("limit", 200)));
        for (var attempt = 1; !history.TryGetProperty("history", out _) && attempt <= 20; attempt++)
        {
            Assert.That(history.GetProperty("code").GetString(), Is.EqualTo("unavailable"), history.ToString());
            await Task.Delay(TimeSpan.FromMilliseconds(250)); // a retry's pause, not a wait for an event
            history = await bob.RequestAsync(Frame(("command", "history"), ("room", "lobby"), ("limit", 200)));
        }

        var stored = history.GetProperty("history").EnumerateArray().Select(m => (m.GetProperty("id").GetInt64(), m.GetProperty("message").GetString()!)).ToList();
        Assert.That(stored, Is.SupersetOf(acknowledged), "every acknowledged message is stored");
    }
}
