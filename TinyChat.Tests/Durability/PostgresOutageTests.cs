using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TinyChat.Chat;
using TinyChat.Storage;
using TinyChat.Storage.Postgres;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Durability;

/// <summary>
/// PostgreSQL stopped and started again under a running TinyChat (a server of the test's own): posts answer
/// <c>unavailable</c> meanwhile, connections stay open, <c>/healthz</c> says why, the node recovers by itself,
/// and nothing acknowledged is lost.
/// </summary>
[Category("Postgres")]
public sealed class PostgresOutageTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private static readonly CancellationToken None = CancellationToken.None;
    private PostgresServer database = null!;
    private string connectionString = null!;

    [SetUp]
    public async Task StartDatabase()
    {
        database = await PostgresServer.StartAsync();
        connectionString = await database.CreateDatabaseAsync();
    }

    [TearDown]
    public async Task StopDatabase() => await database.DisposeAsync();

    private static int Count(LogCapture logs, string text) => logs.Lines.Count(line => line.Contains(text, StringComparison.Ordinal));

    [Test]
    public async Task The_store_refuses_fast_during_an_outage_and_recovers_by_itself_logging_it_once()
    {
        var logs = new LogCapture();
        using var factory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Information));
        await using var store = new PostgresStore(new PostgresStoreSettings(connectionString, RetentionPolicy.Unlimited), TimeProvider.System, factory.CreateLogger<PostgresStore>());
        await store.OpenAsync(None);
        IRoomStore rooms = store;
        await rooms.TryCreateAsync("lobby", None);
        Assert.That(await store.AppendRoomMessagesAsync("lobby", [new("foo_user", "before", DateTimeOffset.UtcNow)], None), Is.EqualTo(1));

        await database.StopAsync();
        var first = Assert.CatchAsync<StoreUnavailableException>(async () => await store.AppendRoomMessagesAsync("lobby", [new("foo_user", "lost?", DateTimeOffset.UtcNow)], None));
        Assert.That(first!.Message, Does.Contain($"127.0.0.1:{database.Port}"));
        Assert.That(store.Current.Available, Is.False);
        Assert.That(store.Current.Problem, Is.Not.Empty);
        for (var i = 0; i < 50; i++)
        {
            Assert.CatchAsync<StoreUnavailableException>(async () => await rooms.MembersAsync("lobby", None));
        }

        await database.RestartAsync();
        await store.Availability.Recovering.WaitAsync(Timeout);
        Assert.That(store.Current.Available, Is.True);
        Assert.That(await store.AppendRoomMessagesAsync("lobby", [new("foo_user", "after", DateTimeOffset.UtcNow)], None), Is.EqualTo(2));
        Assert.That(Count(logs, "is unreachable"), Is.EqualTo(1), string.Join("\n", logs.Lines));
        Assert.That(Count(logs, "is reachable again"), Is.EqualTo(1), string.Join("\n", logs.Lines));
        Assert.That(logs.Lines, Has.Some.Contains("requests were refused"));
    }

    [Test]
    public async Task Posting_while_the_database_is_down_answers_unavailable_keeps_the_connection_and_loses_nothing_acknowledged()
    {
        var logs = new LogCapture();
        await using var server = await TestServer.StartAsync(
            new Dictionary<string, string>
            {
                ["Storage:Provider"] = "postgres",
                ["Storage:ConnectionString"] = connectionString + ";Password=hunter2",
                ["Limits:MessagesPerSecond"] = "0",
                ["Limits:FramesPerSecond"] = "0",
                ["Logging:LogLevel:Default"] = "Information",
            },
            logs.Install);
        var store = server.Services.GetRequiredService<PostgresStore>();
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        Assert.That((await foo.RequestAsync(Frame(("command", "create"), ("room", "lobby")))).TryGetProperty("error", out _), Is.False);
        await foo.RequestAsync(Frame(("command", "join"), ("room", "lobby")));
        await bar.RequestAsync(Frame(("command", "join"), ("room", "lobby")));

        // One poster in full flow; it pauses once it has seen the outage, and stops after a run of acks past it.
        var acked = new List<(long Id, string Text)>();
        var unavailable = 0;
        var running = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var sawOutage = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var resume = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var poster = Task.Run(async () =>
        {
            var ackedAfter = 0;
            for (var i = 0; i < 5000 && ackedAfter < 30; i++)
            {
                var text = $"post {i}";
                var reply = await foo.RequestAsync(Frame(("room", "lobby"), ("message", text)));
                if (reply.TryGetProperty("ok", out _))
                {
                    acked.Add((reply.GetProperty("id").GetInt64(), text));
                    ackedAfter += resume.Task.IsCompleted ? 1 : 0;
                    if (acked.Count >= 30)
                    {
                        running.TrySetResult();
                    }

                    continue;
                }

                Assert.That(reply.GetProperty("code").GetString(), Is.EqualTo("unavailable"), reply.ToString());
                if (++unavailable >= 5)
                {
                    sawOutage.TrySetResult();
                    await resume.Task.WaitAsync(Timeout);
                }
            }
        });

        await running.Task.WaitAsync(Timeout);
        await database.StopAsync();
        await Task.WhenAny(sawOutage.Task, poster).WaitAsync(Timeout);
        Assert.That(poster.IsFaulted, Is.False, () => poster.Exception!.ToString());

        // Connections stay open and answer; what needs the database says it is unavailable.
        Assert.That((await foo.RequestAsync(Frame(("command", "ping")))).TryGetProperty("error", out _), Is.False);
        Assert.That((await bar.RequestAsync(Frame(("to", "foo_user"), ("message", "psst")))).GetProperty("code").GetString(), Is.EqualTo("unavailable"));
        Assert.That((await bar.RequestAsync(Frame(("command", "history"), ("room", "lobby")))).GetProperty("code").GetString(), Is.EqualTo("unavailable"));
        using (var health = await server.Http.GetAsync("/healthz"))
        {
            Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
            var body = JsonDocument.Parse(await health.Content.ReadAsStringAsync()).RootElement;
            Assert.That(body.GetProperty("status").GetString(), Is.EqualTo("unavailable"));
            Assert.That(body.GetProperty("reason").GetString(), Does.StartWith("storage unavailable"));
            Assert.That(body.GetProperty("node").GetString(), Is.Not.Empty);
            Assert.That(body.GetProperty("storage").GetProperty("provider").GetString(), Is.EqualTo("postgres"));
            Assert.That(body.GetProperty("storage").GetProperty("state").GetString(), Is.EqualTo("unavailable"));
        }

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/api/me"))
        {
            // A new client cannot be authenticated now: told to come back, not an internal error.
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "foo_token");
            using var refused = await server.Http.SendAsync(request);
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.ServiceUnavailable));
        }

        await database.RestartAsync();
        await store.Availability.Recovering.WaitAsync(Timeout);
        resume.TrySetResult();
        await poster.WaitAsync(Timeout);

        using (var health = await server.Http.GetAsync("/healthz"))
        {
            Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        }

        Assert.That(foo.CloseStatus, Is.Null, "the poster's connection stayed open");
        Assert.That(acked.Select(a => a.Id), Is.Ordered.Ascending.And.Unique);
        var stored = await server.Services.GetRequiredService<IMessageStore>().RoomHistoryAsync("lobby", new HistoryQuery(null, 0, 100_000), None);
        var byId = stored.ToDictionary(m => m.Id, m => m.Text);
        Assert.That(acked.Where(a => !byId.TryGetValue(a.Id, out var text) || text != a.Text), Is.Empty, "every acknowledged post is stored under its id");
        Assert.That(unavailable, Is.GreaterThanOrEqualTo(5));
        Assert.That(Count(logs, "is unreachable"), Is.EqualTo(1), "one warning per outage, not per request");
        Assert.That(logs.Lines, Has.None.Contains("hunter2"));
        Assert.That(logs.Lines.Where(line => line.Contains("escalates", StringComparison.Ordinal) || line.Contains("restarts", StringComparison.Ordinal)), Is.Empty, "an outage restarts no loop");
    }

    [Test]
    public async Task A_server_killed_database_comes_back_with_everything_acknowledged()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string>
        {
            ["Storage:Provider"] = "postgres",
            ["Storage:ConnectionString"] = connectionString,
        });
        var store = server.Services.GetRequiredService<PostgresStore>();
        await using var foo = await server.ConnectAsync("foo_token");
        await foo.RequestAsync(Frame(("command", "create"), ("room", "lobby")));
        await foo.RequestAsync(Frame(("command", "join"), ("room", "lobby")));
        var ids = new List<long>();
        for (var i = 0; i < 10; i++)
        {
            ids.Add((await foo.RequestAsync(Frame(("room", "lobby"), ("message", $"m{i}")))).GetProperty("id").GetInt64());
        }

        // A backend may outlive its killed postmaster for a moment, so the post right after the kill may still
        // commit: then it is acknowledged, and must be there after the restart like the others.
        await database.KillAsync();
        var during = await foo.RequestAsync(Frame(("room", "lobby"), ("message", "during")));
        if (during.TryGetProperty("id", out var duringId))
        {
            ids.Add(duringId.GetInt64());
        }
        else
        {
            Assert.That(during.GetProperty("code").GetString(), Is.EqualTo("unavailable"));
        }

        await database.RestartAsync();

        // The first post may still meet a pooled connection to the killed server: it is refused, and the store
        // recovers by itself; the client retries, as a client should after "unavailable".
        long after = 0;
        for (var attempt = 0; attempt < 5 && after == 0; attempt++)
        {
            await store.Availability.Recovering.WaitAsync(Timeout);
            var reply = await foo.RequestAsync(Frame(("room", "lobby"), ("message", "after")));
            after = reply.TryGetProperty("id", out var id) ? id.GetInt64() : 0;
        }

        Assert.That(after, Is.GreaterThan(ids[^1]));
        var history = await foo.RequestAsync(Frame(("command", "history"), ("room", "lobby"), ("after", 0)));
        var stored = history.GetProperty("history").EnumerateArray().Select(m => m.GetProperty("id").GetInt64()).ToList();
        Assert.That(ids.Append(after), Is.SubsetOf(stored));
    }
}
