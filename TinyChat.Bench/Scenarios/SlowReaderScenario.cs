using TinyChat.Bench.Reporting;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>
/// Fixed-rate traffic in one room, first without, then with one more member that never reads (and has a small
/// socket receive buffer); the other members' p99 in both, and whether the server closed the slow reader.
/// </summary>
public sealed class SlowReaderScenario : FreshRunsScenario
{
    private static readonly TimeSpan SlowReaderDrain = TimeSpan.FromSeconds(3);

    /// <inheritdoc />
    public override string Name => "slow-reader";

    /// <inheritdoc />
    public override IReadOnlyList<string> Shapes(BenchOptions options) =>
        [$"1x{options.SlowMembers} @{options.SlowRate}/s {options.SlowPadding} B"];

    /// <inheritdoc />
    public override bool AppliesTo(Target target) => !target.IsSink && !target.IsPhoenix;

    /// <inheritdoc />
    protected override async Task<Measurement> MeasureAsync(BenchContext context, Target target, string shape, int run, CancellationToken cancellationToken)
    {
        var options = context.Options;
        var room = $"slow{options.SlowMembers}";
        var firstUser = context.Users($"{Name} {shape}", options.SlowMembers + 1);
        var metrics = new Dictionary<string, double>();
        var notes = new List<string>();
        var limit = TimeSpan.FromMinutes(1) + LatencyScenario.PerRun(context);

        var withoutSeats = LatencyScenario.Seats(room, firstUser, options.SlowMembers, slowReader: false);
        LatencyScenario.Paced without;
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            stop.CancelAfter(limit);
            await using var crowd = await LatencyScenario.GatherAsync(context, target, withoutSeats, limit, stop.Token).ConfigureAwait(false);
            without = await LatencyScenario.MeasureAsync(context, target, crowd, options.SlowRate, options.SlowPadding, stop.Token).ConfigureAwait(false);
        }

        metrics["p50_without_ms"] = without.Latency.QuantileMilliseconds(0.50, without.Missing);
        metrics["p99_without_ms"] = without.Latency.QuantileMilliseconds(0.99, without.Missing);
        metrics["lost_without"] = without.Integrity.Lost;
        metrics["server_threads_without"] = without.ServerThreads;
        await target.SettleAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);

        var seats = LatencyScenario.Seats(room, firstUser, options.SlowMembers, slowReader: true);
        using (var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            stop.CancelAfter(limit + SlowReaderDrain);
            await using var crowd = await LatencyScenario.GatherAsync(context, target, seats, limit, stop.Token).ConfigureAwait(false);
            var with = await LatencyScenario.MeasureAsync(context, target, crowd, options.SlowRate, options.SlowPadding, stop.Token).ConfigureAwait(false);
            metrics["p50_with_ms"] = with.Latency.QuantileMilliseconds(0.50, with.Missing);
            metrics["p99_with_ms"] = with.Latency.QuantileMilliseconds(0.99, with.Missing);
            metrics["p99_diff_pct"] = 100 * (metrics["p99_with_ms"] - metrics["p99_without_ms"]) / metrics["p99_without_ms"];
            metrics["lost"] = with.Integrity.Lost;
            metrics["duplicated"] = with.Integrity.Duplicated;
            metrics["reordered"] = with.Integrity.Reordered;
            metrics["server_cpu"] = with.ServerCpu;
            metrics["client_cpu"] = with.ClientCpu;
            metrics["server_threads"] = with.ServerThreads;

            // Read what reached the slow reader: a server that protects the room has closed it by now.
            if (crowd.Socket(seats.Count - 1) is { } slow)
            {
                using var drain = CancellationTokenSource.CreateLinkedTokenSource(stop.Token);
                drain.CancelAfter(SlowReaderDrain);
                metrics["slow_reader_frames"] = await slow.DrainAsync(drain.Token).ConfigureAwait(false);
                metrics["slow_reader_closed"] = slow.CloseStatus is null ? 0 : 1;
                notes.Add(slow.CloseStatus is null ? "slow reader still open" : $"slow reader closed: {slow.CloseStatus} {slow.CloseReason}");
            }

            notes.AddRange(new[] { without.Note, with.Note }.Where(n => n.Length > 0));
        }

        return new Measurement(Name, shape, target.Name, run, metrics, string.Join("; ", notes));
    }
}
