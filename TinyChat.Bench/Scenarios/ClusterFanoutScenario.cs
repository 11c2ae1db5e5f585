using System.Diagnostics;
using TinyChat.Bench.Reporting;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>
/// Fan-out on the cluster: one room of M members (10 senders), every sender as fast as its window allows.
/// <see cref="ClusterScenario.OneNode"/>: every member on node A (node B runs, receives the notifications and drops
/// them). <see cref="ClusterScenario.TwoNodes"/>: members alternate between A and B, so are the senders: each node
/// commits its own members' posts and delivers the other node's batches from <c>NOTIFY</c>. Deliveries per second,
/// exactly-once and per-sender order at every member, and the two-node rate over the one-node rate of the same run.
/// </summary>
public sealed class ClusterFanoutScenario : ClusterScenario
{
    private const int Senders = 10;
    private static readonly TimeSpan GatherLimit = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan SettleLimit = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(15);

    /// <inheritdoc />
    public override string Name => "cluster-fanout";

    /// <inheritdoc />
    public override string Shape(BenchOptions options) => $"1x{options.ClusterMembers}/{Senders}";

    /// <inheritdoc />
    public override async Task RunAsync(BenchContext context, BenchCluster cluster, string shape, int runs, CancellationToken cancellationToken)
    {
        var members = context.Options.ClusterMembers;
        var duration = TimeSpan.FromSeconds(context.Options.Seconds);
        var perRun = 2 * (SettleLimit + duration + DrainLimit);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var total = (2 * GatherLimit) + ((runs + 1) * perRun);
        limit.CancelAfter(total);

        var one = Layout("one", members, context.Users($"{Name} {shape} one", members), _ => null);
        var two = Layout("two", members, context.Users($"{Name} {shape} two", members), i => i % 2 == 0 ? null : cluster.B);
        var setup = Stopwatch.StartNew();
        await using var oneCrowd = await GatherAsync(context, cluster, one, 0, total, limit.Token).ConfigureAwait(false);
        var oneSetup = setup.Elapsed.TotalSeconds;
        setup.Restart();
        await using var twoCrowd = await GatherAsync(context, cluster, two, members, total, limit.Token).ConfigureAwait(false);
        var twoSetup = setup.Elapsed.TotalSeconds;

        if (context.Options.WarmupSeconds > 0)
        {
            // Unreported traffic first: both nodes compile their hot paths (and PostgreSQL warms its caches) before
            // anything is measured, the cross-node path included.
            var warmup = TimeSpan.FromSeconds(context.Options.WarmupSeconds);
            foreach (var (layout, crowd) in new[] { (one, oneCrowd), (two, twoCrowd) })
            {
                await cluster.SettleAsync(SettleLimit, limit.Token).ConfigureAwait(false);
                var (traffic, everyone) = FanoutScenario.NewMembers(layout.Seats, layout.RoomSenders, Senders, context.Options.Window);
                crowd.Rebind(everyone);
                await FanoutScenario.SendAsync(crowd, layout.Seats, traffic, warmup, limit.Token).ConfigureAwait(false);
            }
        }

        for (var run = 1; run <= runs; run++)
        {
            // Alternate which layout goes first, so neither always gets the fresher machine.
            var order = run % 2 == 1 ? new[] { (one, oneCrowd, OneNode, oneSetup), (two, twoCrowd, TwoNodes, twoSetup) } : [(two, twoCrowd, TwoNodes, twoSetup), (one, oneCrowd, OneNode, oneSetup)];
            var measured = new Dictionary<string, (Dictionary<string, double> Metrics, string Note)>();
            foreach (var (layout, crowd, column, setupSeconds) in order)
            {
                measured[column] = await MeasureAsync(context, cluster, layout, crowd, duration, setupSeconds, limit.Token).ConfigureAwait(false);
            }

            var oneRate = measured[OneNode].Metrics["deliveries_per_s"];
            measured[TwoNodes].Metrics["vs_one_node"] = oneRate > 0 ? measured[TwoNodes].Metrics["deliveries_per_s"] / oneRate : double.NaN;
            foreach (var column in new[] { OneNode, TwoNodes })
            {
                context.Report.Add(new Measurement(Name, shape, column, run, measured[column].Metrics, measured[column].Note));
            }
        }
    }

    private static async Task<(Dictionary<string, double> Metrics, string Note)> MeasureAsync(
        BenchContext context, BenchCluster cluster, ClusterLayout layout, Crowd crowd, TimeSpan duration, double setupSeconds, CancellationToken cancellationToken)
    {
        // Joining pushes presence to every member: let both nodes finish that (or the previous run) before measuring.
        await cluster.SettleAsync(SettleLimit, cancellationToken).ConfigureAwait(false);
        var (traffic, everyone) = FanoutScenario.NewMembers(layout.Seats, layout.RoomSenders, Senders, context.Options.Window);
        crowd.Rebind(everyone);
        var members = crowd.JoinedMembers();

        var notified = await cluster.NotificationsSentAsync(cancellationToken).ConfigureAwait(false);
        var before = cluster.Cpu();
        var start = Stopwatch.GetTimestamp();
        var lastDelivery = await FanoutScenario.SendAsync(crowd, layout.Seats, traffic, duration, cancellationToken).ConfigureAwait(false);
        var cores = cluster.Cpu().CoresSince(before);
        var notifiedAfter = await cluster.NotificationsSentAsync(cancellationToken).ConfigureAwait(false);
        var seconds = Stopwatch.GetElapsedTime(start, lastDelivery).TotalSeconds;
        var integrity = Flow.Check(members);
        var metrics = new Dictionary<string, double>
        {
            ["deliveries_per_s"] = integrity.Received / seconds,
            ["messages_per_s"] = traffic.Sent.Sum() / duration.TotalSeconds,
            ["deliveries"] = integrity.Received,
            ["expected"] = integrity.Expected,
            ["lost"] = integrity.Lost,
            ["duplicated"] = integrity.Duplicated,
            ["reordered"] = integrity.Reordered,
            ["errors"] = integrity.Errors,
            ["failed"] = crowd.Failed,
            ["closed_by_server"] = Enumerable.Range(0, layout.Seats.Count).Count(i => crowd.Socket(i)?.CloseStatus is not null),
            ["seconds"] = seconds,
            ["setup_s"] = setupSeconds,
        };
        AddCpu(metrics, cores, seconds, integrity.Received);
        AddNotifications(metrics, notified, notifiedAfter, seconds, traffic.Sent.Sum());
        var note = string.Join("; ", new[] { crowd.FirstFailure, integrity.FirstError, FanoutScenario.CloseNote(crowd, layout.Seats.Count) }.Where(n => !string.IsNullOrEmpty(n)));
        return (metrics, note);
    }

    private static Task<Crowd> GatherAsync(BenchContext context, BenchCluster cluster, ClusterLayout layout, int firstIndex, TimeSpan receiveLimit, CancellationToken cancellationToken)
    {
        var (_, members) = FanoutScenario.NewMembers(layout.Seats, layout.RoomSenders, Senders, context.Options.Window);
        return Crowd.GatherAsync(context, cluster.A, layout.Seats, members, receiveLimit, cancellationToken, firstIndex);
    }

    /// <summary>One room of <paramref name="members"/>; the first <see cref="Senders"/> send; <paramref name="node"/> places each seat (null: node A).</summary>
    private static ClusterLayout Layout(string name, int members, int firstUser, Func<int, Target?> node)
    {
        var room = $"cluster-fan-{name}-{members}";
        var seats = Enumerable.Range(0, members).Select(i => new Seat(firstUser + i, room, i < Senders ? i : -1, Node: node(i))).ToList();
        return new ClusterLayout(seats, new Dictionary<string, int[]> { [room] = [.. Enumerable.Range(0, Senders)] });
    }

    private sealed record ClusterLayout(List<Seat> Seats, Dictionary<string, int[]> RoomSenders);
}
