using System.Net;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using TinyChat.Cluster;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Cluster;

/// <summary>
/// <c>/healthz</c> of a cluster node reports its <c>LISTEN</c> connection: a loss is shown at once, answers 503 with
/// the reason once it has lasted longer than <c>Cluster:NodeTimeoutSeconds</c>, and heals by itself.
/// </summary>
[Category("Postgres")]
public sealed class BusHealthTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Healthz_reports_a_lost_listen_connection_and_answers_503_once_it_is_down_longer_than_the_node_timeout()
    {
        var postgres = await PostgresServer.SharedAsync();
        var connectionString = await postgres.CreateDatabaseAsync();
        var database = new NpgsqlConnectionStringBuilder(connectionString).Database!;
        var clock = new ManualClock();
        await using var server = await TestServer.StartAsync(
            new Dictionary<string, string>
            {
                ["Storage:Provider"] = "postgres",
                ["Storage:ConnectionString"] = connectionString,
                ["Cluster:NodeName"] = "node-h",
                ["Cluster:HeartbeatSeconds"] = "5",
                ["Cluster:NodeTimeoutSeconds"] = "15",
            },
            services => services.AddSingleton<TimeProvider>(clock));
        var bus = server.Services.GetRequiredService<PostgresChatBus>();
        using (var listening = new CancellationTokenSource(Timeout))
        {
            await bus.WhenListeningAsync(listening.Token);
        }

        var (status, health) = await HealthAsync(server);
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK), health.ToString());
        Assert.That(health.GetProperty("bus").GetProperty("kind").GetString(), Is.EqualTo("postgres"));
        Assert.That(health.GetProperty("bus").GetProperty("state").GetString(), Is.EqualTo("listening"));
        Assert.That(health.GetProperty("bus").GetProperty("notifications").GetProperty("dropped").GetInt64(), Is.Zero);
        Assert.That(health.TryGetProperty("reason", out _), Is.False);

        // Cut the LISTEN connection and keep the database closed to new connections, so the bus stays deaf. Its
        // backoff runs on the manual clock: nothing retries until the test moves time on.
        await postgres.ExecuteAsync("postgres", $"ALTER DATABASE {database} ALLOW_CONNECTIONS false");
        try
        {
            Assert.That(await TerminateListenerAsync(postgres, bus), Is.EqualTo(1));
            (status, health) = await HealthUntilAsync(server, h => h.GetProperty("bus").GetProperty("state").GetString() == "reconnecting");
            Assert.That(status, Is.EqualTo(HttpStatusCode.OK), "a loss shorter than the node timeout is healed by catch-up: still healthy");
            Assert.That(health.GetProperty("status").GetString(), Is.EqualTo("ok"));
            Assert.That(health.GetProperty("bus").GetProperty("problem").GetString(), Is.Not.Empty);
            Assert.That(health.GetProperty("bus").GetProperty("down_seconds").GetInt64(), Is.Zero);
            Assert.That(health.GetProperty("bus").GetProperty("since").GetDateTimeOffset(), Is.EqualTo(clock.GetUtcNow()));

            clock.Advance(TimeSpan.FromSeconds(16));
            (status, health) = await HealthAsync(server);
            Assert.That(status, Is.EqualTo(HttpStatusCode.ServiceUnavailable), health.ToString());
            Assert.That(health.GetProperty("status").GetString(), Is.EqualTo("unavailable"));
            Assert.That(health.GetProperty("reason").GetString(), Does.StartWith("not hearing the other nodes for 16 s: "));
            Assert.That(health.GetProperty("bus").GetProperty("state").GetString(), Is.EqualTo("reconnecting"));
            Assert.That(health.GetProperty("bus").GetProperty("down_seconds").GetInt64(), Is.EqualTo(16));
            Assert.That(health.GetProperty("storage").GetProperty("state").GetString(), Is.EqualTo("available"), "the reason is the bus alone");
            Assert.That(health.GetProperty("node").GetString(), Is.EqualTo("node-h"));
        }
        finally
        {
            await postgres.ExecuteAsync("postgres", $"ALTER DATABASE {database} ALLOW_CONNECTIONS true");
        }

        // The database takes connections again: the next retry (at most 5 s of backoff away) listens again.
        var deadline = DateTime.UtcNow + Timeout;
        while (!bus.Listening)
        {
            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), "the bus did not reconnect by itself");
            clock.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(50);
        }

        (status, health) = await HealthAsync(server);
        Assert.That(status, Is.EqualTo(HttpStatusCode.OK), health.ToString());
        Assert.That(health.GetProperty("bus").GetProperty("state").GetString(), Is.EqualTo("listening"));
        Assert.That(health.GetProperty("bus").TryGetProperty("problem", out _), Is.False);
        Assert.That(health.TryGetProperty("reason", out _), Is.False);
    }

    private static async Task<(HttpStatusCode Status, JsonElement Body)> HealthAsync(TestServer server)
    {
        using var response = await server.Http.GetAsync("/healthz");
        return (response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.Clone());
    }

    // The listener notices the cut on its own thread: ask until it says so (bounded).
    private static async Task<(HttpStatusCode Status, JsonElement Body)> HealthUntilAsync(TestServer server, Func<JsonElement, bool> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            var health = await HealthAsync(server);
            if (condition(health.Body) || DateTime.UtcNow > deadline)
            {
                return health;
            }

            await Task.Delay(20);
        }
    }

    private static async Task<long> TerminateListenerAsync(PostgresServer postgres, PostgresChatBus bus)
    {
        await using var connection = new NpgsqlConnection(postgres.ConnectionString("postgres") + ";Pooling=false");
        await connection.OpenAsync();
        await using var terminate = new NpgsqlCommand(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) AS t", connection);
        terminate.Parameters.AddWithValue(PostgresChatBus.ListenerApplicationPrefix + bus.Origin);
        return (long)(await terminate.ExecuteScalarAsync())!;
    }
}
