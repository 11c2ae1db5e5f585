using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using TinyChat.Chat;
using TinyChat.Storage.Sqlite;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Durability;

/// <summary>
/// A running server whose SQLite file runs out of room (SQLite's page limit on the server's own write connection,
/// which fails a write exactly as a full disk does): posts answer <c>unavailable</c> saying why, the outage is logged
/// once, reads and presence go on, <c>/healthz</c> says so, the server recovers by itself when there is room again,
/// and after a restart the file holds every acknowledged post and no refused one.
/// </summary>
public sealed class SqliteDiskFullTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly CancellationToken None = CancellationToken.None;
    private string data = null!;

    [SetUp]
    public void CreateFolder() => data = Path.Combine(Path.GetTempPath(), "tinychat-tests", Guid.NewGuid().ToString("N"));

    [TearDown]
    public void RemoveFolder()
    {
        SqliteConnection.ClearAllPools();
        if (Directory.Exists(data))
        {
            Directory.Delete(data, recursive: true);
        }
    }

    private Task<TestServer> StartAsync(LogCapture? logs = null) => TestServer.StartAsync(
        new Dictionary<string, string>
        {
            ["Storage:DataDirectory"] = data,
            ["Limits:MessagesPerSecond"] = "0",
            ["Limits:FramesPerSecond"] = "0",
            ["Logging:LogLevel:Default"] = "Information",
        },
        logs is null ? null : logs.Install);

    private static int Count(LogCapture logs, string text) => logs.Lines.Count(line => line.Contains(text, StringComparison.Ordinal));

    private static async Task<JsonElement> HealthAsync(TestServer server, HttpStatusCode expected)
    {
        using var health = await server.Http.GetAsync("/healthz");
        var body = JsonDocument.Parse(await health.Content.ReadAsStringAsync()).RootElement.Clone();
        Assert.That(health.StatusCode, Is.EqualTo(expected), body.ToString());
        return body;
    }

    private static string Text(int i) => $"post {i} " + new string('x', 1500);

    [Test]
    public async Task Posts_are_refused_while_the_disk_is_full_reads_and_presence_go_on_and_the_server_recovers_by_itself()
    {
        var logs = new LogCapture();
        var acked = new List<(long Id, string Text)>();
        var refused = new List<string>();
        await using (var server = await StartAsync(logs))
        {
            var store = server.Services.GetRequiredService<SqliteStore>();
            var carolToken = await server.RegisterAsync("carol");
            await using var foo = await server.ConnectAsync("foo_token");
            await using var bar = await server.ConnectAsync("bar_token");
            Assert.That((await foo.RequestAsync(Frame(("command", "create"), ("room", "lobby")))).TryGetProperty("error", out _), Is.False);
            foreach (var member in new[] { foo, bar })
            {
                await member.RequestAsync(Frame(("command", "join"), ("room", "lobby")));
            }

            await using (var carol = await server.ConnectAsync(carolToken))
            {
                await carol.RequestAsync(Frame(("command", "join"), ("room", "lobby")));
            }

            var before = await HealthAsync(server, HttpStatusCode.OK);
            Assert.That(before.GetProperty("storage").GetProperty("provider").GetString(), Is.EqualTo("sqlite"));
            Assert.That(before.GetProperty("storage").GetProperty("state").GetString(), Is.EqualTo("available"));

            // The disk fills up under a poster in full flow; it stops after a few refusals.
            await store.LimitPagesAsync(await store.PageCountAsync(None), None);
            for (var i = 0; i < 2000 && refused.Count < 5; i++)
            {
                var text = Text(i);
                var reply = await foo.RequestAsync(Frame(("room", "lobby"), ("message", text)));
                if (reply.TryGetProperty("ok", out _))
                {
                    acked.Add((reply.GetProperty("id").GetInt64(), text));
                    continue;
                }

                Assert.That(reply.GetProperty("code").GetString(), Is.EqualTo("unavailable"), reply.ToString());
                Assert.That(reply.GetProperty("error").GetString(), Does.Contain("disk is full").And.Not.Contain(data), "says why, never where the file is");
                refused.Add(text);
            }

            Assert.That(refused, Has.Count.EqualTo(5), "the page limit was reached");
            var during = await HealthAsync(server, HttpStatusCode.ServiceUnavailable);
            Assert.That(during.GetProperty("status").GetString(), Is.EqualTo("unavailable"));
            Assert.That(during.GetProperty("reason").GetString(), Does.StartWith("storage unavailable").And.Contain("full"));
            Assert.That(during.GetProperty("storage").GetProperty("state").GetString(), Is.EqualTo("unavailable"));
            Assert.That(during.GetProperty("storage").GetProperty("problem").GetString(), Does.Contain("full"));

            using (var request = new HttpRequestMessage(HttpMethod.Post, "/api/rooms/lobby/messages") { Content = JsonContent.Create(new { message = Text(9999) }) })
            {
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "foo_token");
                using var response = await server.Http.SendAsync(request);
                Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
                Assert.That(response.Headers.RetryAfter, Is.Not.Null);
                Assert.That(await response.Content.ReadAsStringAsync(), Does.Contain("disk is full"));
                refused.Add(Text(9999));
            }

            // Presence goes on: a member connecting now is announced to the others, and gets the room's state.
            await using (var carol = await server.ConnectAsync(carolToken))
            {
                await bar.ExpectAsync(f => f.TryGetProperty("presence_diff", out var diff) && diff.GetProperty("joins").TryGetProperty("carol", out _), Timeout);
                var who = await carol.RequestAsync(Frame(("command", "who"), ("room", "lobby")));
                Assert.That(who.GetProperty("presence_state").TryGetProperty("foo_user", out _), Is.True, who.ToString());
            }

            // Reads go on: history holds exactly what was acknowledged.
            var history = await bar.RequestAsync(Frame(("command", "history"), ("room", "lobby"), ("limit", 1000)));
            Assert.That(history.TryGetProperty("error", out _), Is.False, history.ToString());
            Assert.That(history.GetProperty("history").EnumerateArray().Select(m => m.GetProperty("id").GetInt64()), Is.EqualTo(acked.Select(a => a.Id)));
            Assert.That((await foo.RequestAsync(Frame(("command", "ping")))).TryGetProperty("error", out _), Is.False);

            // Room space comes back: the very next post goes through, and /healthz follows within a second or so.
            await store.LimitPagesAsync(1_000_000, None);
            var next = await foo.RequestAsync(Frame(("room", "lobby"), ("message", "space again")));
            Assert.That(next.TryGetProperty("ok", out _), Is.True, next.ToString());
            acked.Add((next.GetProperty("id").GetInt64(), "space again"));
            await store.Availability.Recovering.WaitAsync(Timeout);
            var after = await HealthAsync(server, HttpStatusCode.OK);
            Assert.That(after.GetProperty("storage").GetProperty("state").GetString(), Is.EqualTo("available"));

            Assert.That(foo.CloseStatus, Is.Null, "the poster's connection stayed open");
            Assert.That(Count(logs, "cannot be written"), Is.EqualTo(1), "one warning per outage, not per post");
            Assert.That(Count(logs, "is writable again"), Is.EqualTo(1));
            Assert.That(Count(logs, "rolled back"), Is.Zero, "no warning per refused write");
            Assert.That(logs.Lines.Where(line => line.Contains("escalates", StringComparison.Ordinal) || line.Contains("restart", StringComparison.Ordinal)), Is.Empty, "a full disk restarts no loop");
        }

        // After a restart the file has every acknowledged post under its id, and none of the refused ones.
        await using (var restarted = await StartAsync())
        {
            var stored = await restarted.Services.GetRequiredService<IMessageStore>().RoomHistoryAsync("lobby", new HistoryQuery(null, null, 100_000), None);
            Assert.That(stored.Select(m => (m.Id, m.Text)), Is.EqualTo(acked));
            Assert.That(stored.Select(m => m.Text).Intersect(refused), Is.Empty);
        }
    }

    [Test]
    public async Task A_private_message_that_does_not_fit_is_refused_and_one_that_fits_again_is_delivered()
    {
        await using var server = await StartAsync();
        var store = server.Services.GetRequiredService<SqliteStore>();
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");

        await store.LimitPagesAsync(await store.PageCountAsync(None), None);
        JsonElement reply = default;
        for (var i = 0; i < 50; i++)
        {
            // Near the chat's longest text: a page or so each, so the file's few free bytes are soon used up.
            reply = await foo.RequestAsync(Frame(("to", "bar_user"), ("message", $"{i} " + new string('p', 3900))));
            if (!reply.TryGetProperty("ok", out _))
            {
                break;
            }
        }

        Assert.That(reply.GetProperty("code").GetString(), Is.EqualTo("unavailable"), reply.ToString());
        Assert.That(reply.GetProperty("error").GetString(), Does.Contain("disk is full"));

        await store.LimitPagesAsync(1_000_000, None);
        var sent = await foo.RequestAsync(Frame(("to", "bar_user"), ("message", "fits again")));
        Assert.That(sent.TryGetProperty("ok", out _), Is.True, sent.ToString());
        await bar.ExpectAsync(f => f.TryGetProperty("message", out var m) && m.GetString() == "fits again", Timeout);
    }
}
