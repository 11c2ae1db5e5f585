using System.Diagnostics;
using TinyChat.Bench.Client;
using TinyChat.Bench.Reporting;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>
/// N connections opened, authenticated and joined to rooms of 100 (TinyChat pushes presence to a room's members on
/// every join, so one room of N would measure an O(N²) presence storm, not connecting): the connect rate, and the server's resident memory
/// per connection from /proc/PID/status. Connections open in two equal waves and the memory per connection is the
/// second wave's VmRSS growth over its size: the first wave uses up heap a previous measurement freed but the
/// runtime kept, which would otherwise hide the connections' cost. (The whole growth over N is in the JSON too.)
/// </summary>
public sealed class ConnectScenario : FreshRunsScenario
{
    private const int RoomSize = 100;
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan Settle = TimeSpan.FromSeconds(1);

    /// <inheritdoc />
    public override string Name => "connect";

    /// <inheritdoc />
    public override IReadOnlyList<string> Shapes(BenchOptions options) => [$"{options.Connections} conns"];

    /// <inheritdoc />
    public override bool AppliesTo(Target target) => !target.IsSink && !target.IsPhoenix;

    /// <inheritdoc />
    protected override async Task<Measurement> MeasureAsync(BenchContext context, Target target, string shape, int run, CancellationToken cancellationToken)
    {
        var count = context.Options.Connections;
        var firstWave = count / 2;
        // Fresh users and rooms every run: a TinyChat user who is a member already would only get already_joined.
        var firstUser = context.Users($"{Name} run {run}", count);
        var seats = Enumerable.Range(0, count).Select(i => new Seat(firstUser + i, $"conn{run}-{i / RoomSize}", -1)).ToList();
        var idle = new Traffic(0, 1, releaseOnAck: false);
        var members = seats.Select(_ => new Member(idle, -1, [])).ToArray();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(Limit);
        await target.EnsureUsersAsync(firstUser + count, limit.Token).ConfigureAwait(false);
        await Crowd.CreateRoomsAsync(context, target, seats, limit.Token).ConfigureAwait(false);
        await target.SettleAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        var before = target.Sample();
        var countersBefore = await DurableScenario.CountersAsync(target, limit.Token).ConfigureAwait(false);

        var cpu = CpuWindow.Start(target);
        var clock = Stopwatch.StartNew();
        await using var first = await Crowd.GatherAsync(context, target, seats[..firstWave], members[..firstWave], Limit, limit.Token, createRooms: false).ConfigureAwait(false);
        var firstSeconds = clock.Elapsed.TotalSeconds;
        await Task.Delay(Settle, cancellationToken).ConfigureAwait(false);
        var middle = target.Sample();

        clock.Restart();
        await using var second = await Crowd.GatherAsync(context, target, seats[firstWave..], members[firstWave..], Limit, limit.Token, firstIndex: firstWave, createRooms: false).ConfigureAwait(false);
        var seconds = firstSeconds + clock.Elapsed.TotalSeconds;
        var (serverCpu, clientCpu) = cpu.Stop(target);
        var counters = (await DurableScenario.CountersAsync(target, limit.Token).ConfigureAwait(false)).Since(countersBefore);
        await Task.Delay(Settle, cancellationToken).ConfigureAwait(false);
        var after = target.Sample();

        var failed = first.Failed + second.Failed;
        var connected = count - failed;
        var metrics = new Dictionary<string, double>
        {
            ["connections"] = connected,
            ["failed"] = failed,
            ["seconds"] = seconds,
            ["connects_per_s"] = connected / seconds,
            ["server_cpu"] = serverCpu,
            ["server_cpu_ms_per_conn"] = connected > 0 ? serverCpu * cpu.Seconds * 1000 / connected : 0,
            ["client_cpu"] = clientCpu,
            ["server_threads"] = cpu.ServerThreads,
            ["open_ms_avg"] = (first.OpenMilliseconds + second.OpenMilliseconds) / 2,
            ["join_ms_avg"] = (first.JoinMilliseconds + second.JoinMilliseconds) / 2,
        };
        counters.AddPer(metrics, "conn", connected);
        if (before is { } b && middle is { } m && after is { } a && connected > 0)
        {
            metrics["rss_before_mb"] = b.RssKilobytes / 1024.0;
            metrics["rss_after_mb"] = a.RssKilobytes / 1024.0;
            metrics["rss_kb_per_conn"] = (a.RssKilobytes - m.RssKilobytes) / (double)(count - firstWave - second.Failed);
            metrics["rss_kb_per_conn_whole"] = (a.RssKilobytes - b.RssKilobytes) / (double)connected;
        }

        var note = string.Join("; ", new[] { cpu.ThreadCpu.Length > 0 ? "server threads: " + cpu.ThreadCpu : null, first.FirstFailure ?? second.FirstFailure }
            .Where(n => !string.IsNullOrEmpty(n)));
        return new Measurement(Name, shape, target.Name, run, metrics, note);
    }
}
