using TinyChat.Bench.Reporting;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>
/// Fixed-rate traffic in one room, first without, then with one more member that never reads (and has a small
/// socket receive buffer); the other members' p99 in both, and whether the server closed the slow reader.
/// </summary>
public sealed class SlowReaderScenario : Scenario
{
    private static readonly TimeSpan SlowReaderDrain = TimeSpan.FromSeconds(5);

    /// <inheritdoc />
    public override string Name => "slow-reader";

    /// <inheritdoc />
    public override IReadOnlyList<string> Shapes(BenchOptions options) =>
        [$"1x{options.SlowMembers} @{options.SlowRate}/s {options.SlowPadding} B"];

    /// <inheritdoc />
    public override bool AppliesTo(Target target) => !target.IsSink;

    /// <inheritdoc />
    public override async Task<Measurement> RunAsync(BenchContext context, Target target, string shape, int run, CancellationToken cancellationToken)
    {
        var options = context.Options;
        var room = $"slow{options.SlowMembers}";
        var firstUser = context.Users($"{Name} {shape}", options.SlowMembers + 1);
        var metrics = new Dictionary<string, double>();
        var notes = new List<string>();

        var without = await LatencyScenario.RunPacedAsync(context, target, LatencyScenario.Seats(room, firstUser, options.SlowMembers, slowReader: false), options.SlowRate, options.SlowPadding, cancellationToken).ConfigureAwait(false);
        await using (without.Crowd)
        {
            metrics["p50_without_ms"] = without.Latency.QuantileMilliseconds(0.50, without.Missing);
            metrics["p99_without_ms"] = without.Latency.QuantileMilliseconds(0.99, without.Missing);
            metrics["lost_without"] = without.Integrity.Lost;
        }

        await target.SettleAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        var seats = LatencyScenario.Seats(room, firstUser, options.SlowMembers, slowReader: true);
        var with = await LatencyScenario.RunPacedAsync(context, target, seats, options.SlowRate, options.SlowPadding, cancellationToken).ConfigureAwait(false);
        await using (with.Crowd)
        {
            metrics["p50_with_ms"] = with.Latency.QuantileMilliseconds(0.50, with.Missing);
            metrics["p99_with_ms"] = with.Latency.QuantileMilliseconds(0.99, with.Missing);
            metrics["p99_diff_pct"] = 100 * (metrics["p99_with_ms"] - metrics["p99_without_ms"]) / metrics["p99_without_ms"];
            metrics["lost"] = with.Integrity.Lost;
            metrics["duplicated"] = with.Integrity.Duplicated;
            metrics["reordered"] = with.Integrity.Reordered;
            metrics["server_cpu"] = with.ServerCpu;
            metrics["client_cpu"] = with.ClientCpu;
            metrics["server_threads_without"] = without.ServerThreads;
            metrics["server_threads"] = with.ServerThreads;

            // Read what reached the slow reader: a server that protects the room has closed it by now.
            var slow = with.Crowd.Socket(seats.Count - 1);
            if (slow is not null)
            {
                using var drain = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                drain.CancelAfter(SlowReaderDrain);
                var frames = await slow.DrainAsync(drain.Token).ConfigureAwait(false);
                metrics["slow_reader_frames"] = frames;
                metrics["slow_reader_closed"] = slow.CloseStatus is null ? 0 : 1;
                notes.Add(slow.CloseStatus is null ? "slow reader still open" : $"slow reader closed: {slow.CloseStatus} {slow.CloseReason}");
            }
        }

        notes.AddRange(new[] { without.Note, with.Note }.Where(n => n.Length > 0));
        return new Measurement(Name, shape, target.Name, run, metrics, string.Join("; ", notes));
    }
}
