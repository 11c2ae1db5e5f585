using System.Diagnostics;
using TinyChat.Bench.Reporting;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>
/// N connections opened, authenticated and joined to one room; the connect rate, and the server's resident memory
/// per connection (VmRSS after minus before, over N).
/// </summary>
public sealed class ConnectScenario : Scenario
{
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(3);

    /// <inheritdoc />
    public override string Name => "connect";

    /// <inheritdoc />
    public override IReadOnlyList<string> Shapes(BenchOptions options) => [$"{options.Connections} conns"];

    /// <inheritdoc />
    public override bool AppliesTo(Target target) => !target.IsSink;

    /// <inheritdoc />
    public override async Task<Measurement> RunAsync(BenchContext context, Target target, string shape, int run, CancellationToken cancellationToken)
    {
        var count = context.Options.Connections;
        await target.EnsureUsersAsync(count, cancellationToken).ConfigureAwait(false);
        await target.SettleAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        var before = target.Sample();
        var cpu = CpuWindow.Start(target);
        var seats = Enumerable.Range(0, count).Select(i => new Seat(i, "default", -1)).ToList();
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(Limit);

        var clock = Stopwatch.StartNew();
        await using var crowd = await Crowd.GatherAsync(context, target, seats, limit.Token).ConfigureAwait(false);
        var seconds = clock.Elapsed.TotalSeconds;
        var (serverCpu, clientCpu) = cpu.Stop(target);
        var connected = count - crowd.Failed;

        // Let the server finish what the last joins started before reading its memory.
        await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
        var after = target.Sample();
        var metrics = new Dictionary<string, double>
        {
            ["connections"] = connected,
            ["failed"] = crowd.Failed,
            ["seconds"] = seconds,
            ["connects_per_s"] = connected / seconds,
            ["server_cpu"] = serverCpu,
            ["client_cpu"] = clientCpu,
        };
        if (before is { } b && after is { } a && connected > 0)
        {
            metrics["rss_before_mb"] = b.RssKilobytes / 1024.0;
            metrics["rss_after_mb"] = a.RssKilobytes / 1024.0;
            metrics["rss_kb_per_conn"] = (a.RssKilobytes - b.RssKilobytes) / (double)connected;
            metrics["threads"] = a.Threads;
        }

        return new Measurement(Name, shape, target.Name, run, metrics, crowd.FirstFailure ?? "");
    }
}
