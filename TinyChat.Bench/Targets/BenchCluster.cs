using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;

namespace TinyChat.Bench.Targets;

/// <summary>
/// A TinyChat cluster of the bench's own: a PostgreSQL from Debian's packages (<see cref="BenchPostgres"/>, fsync on)
/// and two nodes on it (<c>Storage:Provider</c> postgres, <c>Cluster:NodeName</c> bench-a and bench-b), all on this
/// machine. Users are registered through node A and work on both; rooms are cluster-wide.
/// </summary>
public sealed class BenchCluster : IAsyncDisposable
{
    private readonly HttpClient http = new(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(30) };

    private BenchCluster(BenchPostgres database, Target a, Target b)
    {
        Database = database;
        A = a;
        B = b;
    }

    /// <summary>The shared database.</summary>
    public BenchPostgres Database { get; }

    /// <summary>Node A: users are registered here; the one node of the one-node layouts.</summary>
    public Target A { get; }

    /// <summary>Node B.</summary>
    public Target B { get; }

    /// <summary>What was started, for the report.</summary>
    public string Note => $"2 TinyChat nodes on one PostgreSQL of the bench's own (fsync on); node A {A.Note}";

    /// <summary>Starts PostgreSQL, then node A, then node B; logs go to <paramref name="logPath"/> + .postgres, .a and .b.</summary>
    public static async Task<BenchCluster> StartAsync(RepositoryPaths paths, IReadOnlyList<string> extraArgs, string logPath, CancellationToken cancellationToken)
    {
        var database = await BenchPostgres.StartAsync(FreePort(), logPath + ".postgres", cancellationToken).ConfigureAwait(false);
        Target? a = null;
        try
        {
            a = await StartNodeAsync(paths, extraArgs, database, "a", logPath, cancellationToken).ConfigureAwait(false);
            var b = await StartNodeAsync(paths, extraArgs, database, "b", logPath, cancellationToken).ConfigureAwait(false);
            b.ShareUsersOf(a);
            return new BenchCluster(database, a, b);
        }
        catch
        {
            if (a is not null)
            {
                await a.DisposeAsync().ConfigureAwait(false);
            }

            await database.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static Task<Target> StartNodeAsync(
        RepositoryPaths paths, IReadOnlyList<string> extraArgs, BenchPostgres database, string node, string logPath, CancellationToken cancellationToken) =>
        Target.StartTinyChatAsync(
            paths,
            [.. extraArgs, "--Storage:Provider", "postgres", "--Storage:ConnectionString", database.ConnectionString, "--Cluster:NodeName", "bench-" + node],
            $"{logPath}.{node}",
            cancellationToken,
            "tinychat-node-" + node);

    /// <summary>Waits until both nodes are idle (each bounded by <paramref name="limit"/>).</summary>
    public async Task SettleAsync(TimeSpan limit, CancellationToken cancellationToken)
    {
        await A.SettleAsync(limit, cancellationToken, connectionsClosed: false).ConfigureAwait(false);
        await B.SettleAsync(limit, cancellationToken, connectionsClosed: false).ConfigureAwait(false);
    }

    /// <summary>Notifications sent by both nodes since they started, from their <c>/healthz</c>; -1 when a node did not say.</summary>
    public async Task<long> NotificationsSentAsync(CancellationToken cancellationToken)
    {
        long sent = 0;
        foreach (var node in new[] { A, B })
        {
            try
            {
                var health = await http.GetFromJsonAsync<JsonElement>($"http://127.0.0.1:{node.Port}/healthz", cancellationToken).ConfigureAwait(false);
                sent += health.GetProperty("bus").GetProperty("notifications").GetProperty("sent").GetInt64();
            }
            catch (Exception ex) when (ex is HttpRequestException or JsonException or KeyNotFoundException or InvalidOperationException or TaskCanceledException)
            {
                return -1;
            }
        }

        return sent;
    }

    /// <summary>CPU seconds used so far by node A, node B, and PostgreSQL (the postmaster and its live backends).</summary>
    public ClusterCpu Cpu() => new(
        A.Sample()?.CpuSeconds ?? double.NaN,
        B.Sample()?.CpuSeconds ?? double.NaN,
        PostgresCpuSeconds(Database.Pid),
        Environment.CpuUsage.TotalTime.TotalSeconds,
        Stopwatch.GetTimestamp());

    // A backend that exits takes its CPU time with it; the nodes' pooled connections live through a measurement.
    private static double PostgresCpuSeconds(int postmaster)
    {
        var seconds = ProcessSample.Read(postmaster)?.CpuSeconds ?? double.NaN;
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || pid == postmaster)
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (int.Parse(fields[1], CultureInfo.InvariantCulture) == postmaster)
                {
                    seconds += ProcessSample.Read(pid)?.CpuSeconds ?? 0;
                }
            }
            catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException or UnauthorizedAccessException)
            {
                // Gone between listing and reading.
            }
        }

        return seconds;
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        http.Dispose();
        await B.DisposeAsync().ConfigureAwait(false);
        await A.DisposeAsync().ConfigureAwait(false);
        await Database.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>CPU seconds of a cluster's processes and of the bench at one moment.</summary>
public readonly record struct ClusterCpu(double A, double B, double Postgres, double Bench, long TakenAt)
{
    /// <summary>Average cores busy between <paramref name="earlier"/> and this reading: node A, node B, PostgreSQL, the bench.</summary>
    public (double A, double B, double Postgres, double Bench) CoresSince(ClusterCpu earlier)
    {
        var seconds = Stopwatch.GetElapsedTime(earlier.TakenAt, TakenAt).TotalSeconds;
        return seconds <= 0
            ? (0, 0, 0, 0)
            : ((A - earlier.A) / seconds, (B - earlier.B) / seconds, (Postgres - earlier.Postgres) / seconds, (Bench - earlier.Bench) / seconds);
    }
}
