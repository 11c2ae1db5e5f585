using System.Diagnostics;
using TinyChat.Bench.Client;
using TinyChat.Bench.Measuring;
using TinyChat.Bench.Reporting;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>
/// Send-to-receive latency on the cluster at a fixed rate: 10 senders on node A post R messages/s in all into a room
/// whose N receivers are on node B (<see cref="ClusterScenario.TwoNodes"/>: commit on A, <c>NOTIFY</c>, delivery on
/// B), next to the same room with its receivers on node A (<see cref="ClusterScenario.OneNode"/>: commit and
/// delivery on A). R × N deliveries/s at the receivers (100 × 100 = 10,000 by default); p50/p99/p99.9 over the
/// receivers only, after a warm-up second.
/// </summary>
public sealed class ClusterLatencyScenario : ClusterScenario
{
    private const int Senders = 10;
    private static readonly TimeSpan GatherLimit = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan SettleLimit = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(5);

    /// <inheritdoc />
    public override string Name => "cluster-latency";

    /// <inheritdoc />
    public override string Shape(BenchOptions options) =>
        $"{Senders} senders on A -> {options.ClusterReceivers} @{options.ClusterRate}/s";

    /// <inheritdoc />
    public override async Task RunAsync(BenchContext context, BenchCluster cluster, string shape, int runs, CancellationToken cancellationToken)
    {
        var options = context.Options;
        var perRun = 2 * (SettleLimit + Warmup + TimeSpan.FromSeconds(options.LatencySeconds) + DrainLimit + TimeSpan.FromSeconds(1));
        var total = (2 * GatherLimit) + (runs * perRun);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(total);

        var seats = Senders + options.ClusterReceivers;
        var one = Seats("one", context.Users($"{Name} {shape} one", seats), options.ClusterReceivers, receivers: null);
        var two = Seats("two", context.Users($"{Name} {shape} two", seats), options.ClusterReceivers, receivers: cluster.B);
        await using var oneCrowd = await Crowd.GatherAsync(context, cluster.A, one, NewMembers(one, new Traffic(Senders, 1, false), new Traffic(Senders, 1, false)), total, limit.Token).ConfigureAwait(false);
        await using var twoCrowd = await Crowd.GatherAsync(context, cluster.A, two, NewMembers(two, new Traffic(Senders, 1, false), new Traffic(Senders, 1, false)), total, limit.Token, firstIndex: seats).ConfigureAwait(false);

        for (var run = 1; run <= runs; run++)
        {
            var order = run % 2 == 1 ? new[] { (oneCrowd, OneNode), (twoCrowd, TwoNodes) } : [(twoCrowd, TwoNodes), (oneCrowd, OneNode)];
            var measured = new Dictionary<string, (Dictionary<string, double> Metrics, string Note)>();
            foreach (var (crowd, column) in order)
            {
                measured[column] = await MeasureAsync(context, cluster, crowd, limit.Token).ConfigureAwait(false);
            }

            measured[TwoNodes].Metrics["added_p50_ms"] = measured[TwoNodes].Metrics["p50_ms"] - measured[OneNode].Metrics["p50_ms"];
            measured[TwoNodes].Metrics["added_p99_ms"] = measured[TwoNodes].Metrics["p99_ms"] - measured[OneNode].Metrics["p99_ms"];
            foreach (var column in new[] { OneNode, TwoNodes })
            {
                context.Report.Add(new Measurement(Name, shape, column, run, measured[column].Metrics, measured[column].Note));
            }
        }
    }

    private static async Task<(Dictionary<string, double> Metrics, string Note)> MeasureAsync(
        BenchContext context, BenchCluster cluster, Crowd crowd, CancellationToken cancellationToken)
    {
        await cluster.SettleAsync(SettleLimit, cancellationToken).ConfigureAwait(false);
        var options = context.Options;
        var seats = crowd.Seats;

        // The receivers count and time every message; the senders only read (their echoes are not measured).
        var traffic = new Traffic(Senders, window: 1, releaseOnAck: false) { Latency = new LatencyHistogram() };
        var everyone = NewMembers(seats, traffic, new Traffic(Senders, 1, false));
        crowd.Rebind(everyone);
        var receivers = crowd.JoinedMembers().Select((member, i) => seats[i].Sender < 0 ? member : null).ToArray();

        var notified = await cluster.NotificationsSentAsync(cancellationToken).ConfigureAwait(false);
        var before = cluster.Cpu();
        var start = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 5);
        traffic.RecordFrom = start + (long)(Warmup.TotalSeconds * Stopwatch.Frequency);
        var end = traffic.RecordFrom + (long)(options.LatencySeconds * Stopwatch.Frequency);
        var sending = new List<Task>();
        for (var i = 0; i < seats.Count; i++)
        {
            if (seats[i].Sender >= 0 && crowd.Socket(i) is { } socket)
            {
                sending.Add(Flow.SendPacedAsync(socket, traffic, seats[i].Sender, Senders, seats[i].Room, options.ClusterRate, start, end, 0, cancellationToken));
            }
        }

        await Task.WhenAll(sending).ConfigureAwait(false);
        var lastDelivery = await Flow.DrainAsync(receivers, DrainLimit, cancellationToken).ConfigureAwait(false);
        var cores = cluster.Cpu().CoresSince(before);
        var notifiedAfter = await cluster.NotificationsSentAsync(cancellationToken).ConfigureAwait(false);
        var integrity = Flow.Check(receivers);
        var seconds = Stopwatch.GetElapsedTime(start, lastDelivery).TotalSeconds;
        var missing = Math.Max(0, integrity.Expected - integrity.Received);
        var latency = traffic.Latency;
        var metrics = new Dictionary<string, double>
        {
            ["p50_ms"] = latency.QuantileMilliseconds(0.50, missing),
            ["p99_ms"] = latency.QuantileMilliseconds(0.99, missing),
            ["p999_ms"] = latency.QuantileMilliseconds(0.999, missing),
            ["max_ms"] = latency.QuantileMilliseconds(1.0, missing),
            ["samples"] = latency.Count,
            ["deliveries_per_s"] = integrity.Received / seconds,
            ["lost"] = integrity.Lost,
            ["duplicated"] = integrity.Duplicated,
            ["reordered"] = integrity.Reordered,
            ["errors"] = integrity.Errors,
            ["failed"] = crowd.Failed,
        };
        AddCpu(metrics, cores, seconds, integrity.Received);
        AddNotifications(metrics, notified, notifiedAfter, seconds, traffic.Sent.Sum());
        var note = string.Join("; ", new[] { crowd.FirstFailure, integrity.FirstError }.Where(n => !string.IsNullOrEmpty(n)));
        return (metrics, note);
    }

    /// <summary>The senders (on node A) first, then the receivers, on <paramref name="receivers"/> (null: node A).</summary>
    private static List<Seat> Seats(string name, int firstUser, int count, Target? receivers)
    {
        var room = $"cluster-lat-{name}-{count}";
        return
        [
            .. Enumerable.Range(0, Senders).Select(i => new Seat(firstUser + i, room, i)),
            .. Enumerable.Range(0, count).Select(i => new Seat(firstUser + Senders + i, room, -1, Node: receivers)),
        ];
    }

    private static Member[] NewMembers(IReadOnlyList<Seat> seats, Traffic measured, Traffic unmeasured)
    {
        var roomSenders = Enumerable.Range(0, Senders).ToArray();
        return [.. seats.Select(seat => seat.Sender >= 0 ? new Member(unmeasured, seat.Sender, roomSenders) : new Member(measured, -1, roomSenders))];
    }
}
