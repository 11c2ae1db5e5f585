using System.Diagnostics;
using TinyChat.Bench.Client;
using TinyChat.Bench.Measuring;
using TinyChat.Bench.Reporting;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>
/// A fixed rate of messages into one room of M members (100 msg/s x 1,000 members = 100k deliveries/s by default);
/// p50/p99/p99.9 from send to receive, after a warm-up second.
/// </summary>
public sealed class LatencyScenario : Scenario
{
    private const int Senders = 10;
    private static readonly TimeSpan GatherLimit = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan SettleLimit = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan Warmup = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(5);

    /// <summary>What one paced run measured.</summary>
    public sealed record Paced(LatencyHistogram Latency, Flow.Integrity Integrity, double Seconds, double ServerCpu, double ClientCpu, int ServerThreads, string Note)
    {
        /// <summary>Deliveries that never came: they count as infinitely late in the percentiles.</summary>
        public long Missing => Math.Max(0, Integrity.Expected - Integrity.Received);

        /// <summary>What the kernel sent meanwhile (the whole network namespace, both ways on loopback).</summary>
        public NetCounters Wire { get; init; }

        /// <summary>Seconds the CPU window spanned (<see cref="ServerCpu"/> is in cores over it).</summary>
        public double CpuSeconds { get; init; }

        /// <summary>The store's commits and the runtime's allocations and GC pauses meanwhile, from the server's <c>/metrics</c> (zeros for a peer).</summary>
        public DurableScenario.ServerCounters Server { get; init; }

        /// <summary>What the room's traffic cost per delivery, and how long it waited for the store: rows shared by latency and held.</summary>
        public void AddCosts(Dictionary<string, double> metrics)
        {
            var received = Integrity.Received;
            metrics["server_cpu_us_per_delivery"] = received == 0 ? double.NaN : ServerCpu * CpuSeconds * 1e6 / received;
            metrics["client_cpu_us_per_delivery"] = received == 0 ? double.NaN : ClientCpu * CpuSeconds * 1e6 / received;
            metrics["segments_per_1000_deliveries"] = received == 0 ? double.NaN : Wire.Segments * 1000.0 / received;
            metrics["bytes_per_delivery"] = received == 0 ? double.NaN : Wire.Bytes / (double)received;
            if (Server.Transactions > 0)
            {
                // Every message waits for its commit (an fsync with Synchronous = Full) before anyone sees it.
                metrics["commit_ms"] = Server.Seconds * 1000 / Server.Transactions;
                metrics["commits_per_s"] = Server.Transactions / CpuSeconds;
            }

            if (Server.Allocated > 0 && received > 0)
            {
                // A tail can be a collection's pause: what the server allocated per delivery and how long it stood still.
                metrics["server_bytes_per_delivery"] = Server.Allocated / received;
                metrics["gc_pause_ms_per_s"] = Server.GcPauseSeconds * 1000 / CpuSeconds;
            }
        }
    }

    /// <inheritdoc />
    public override string Name => "latency";

    /// <inheritdoc />
    public override bool AppliesTo(Target target) => !target.IsPhoenix;

    /// <inheritdoc />
    public override IReadOnlyList<string> Shapes(BenchOptions options) => [$"1x{options.LatencyMembers} @{options.LatencyRate}/s"];

    /// <inheritdoc />
    public override async Task RunAsync(BenchContext context, Target target, string shape, int runs, CancellationToken cancellationToken)
    {
        var options = context.Options;
        var seats = Seats($"lat{options.LatencyMembers}", context.Users($"{Name} {shape}", options.LatencyMembers), options.LatencyMembers, slowReader: false);
        var limit = GatherLimit + ((runs + 1) * PerRun(context));
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(limit);
        await target.EnsureUsersAsync(seats.Max(s => s.User) + 1, stop.Token).ConfigureAwait(false);
        var setup = Stopwatch.StartNew();
        await using var crowd = await GatherAsync(context, target, seats, limit, stop.Token).ConfigureAwait(false);
        var setupSeconds = setup.Elapsed.TotalSeconds;
        await WarmUpAsync(context, target, crowd, stop.Token).ConfigureAwait(false);
        for (var run = 1; run <= runs; run++)
        {
            var paced = await MeasureAsync(context, target, crowd, options.LatencyRate, padding: 0, stop.Token).ConfigureAwait(false);
            var metrics = new Dictionary<string, double>
            {
                ["p50_ms"] = paced.Latency.QuantileMilliseconds(0.50, paced.Missing),
                ["p99_ms"] = paced.Latency.QuantileMilliseconds(0.99, paced.Missing),
                ["p999_ms"] = paced.Latency.QuantileMilliseconds(0.999, paced.Missing),
                ["max_ms"] = paced.Latency.QuantileMilliseconds(1.0, paced.Missing),
                ["samples"] = paced.Latency.Count,
                ["setup_s"] = setupSeconds,
                ["deliveries_per_s"] = paced.Integrity.Received / paced.Seconds,
                ["lost"] = paced.Integrity.Lost,
                ["duplicated"] = paced.Integrity.Duplicated,
                ["reordered"] = paced.Integrity.Reordered,
                ["errors"] = paced.Integrity.Errors,
                ["failed"] = crowd.Failed,
                ["server_cpu"] = paced.ServerCpu,
                ["client_cpu"] = paced.ClientCpu,
                ["server_threads"] = paced.ServerThreads,
            };
            paced.AddCosts(metrics);
            context.Report.Add(new Measurement(Name, shape, target.Name, run, metrics, paced.Note));
        }
    }

    /// <summary>One room of <paramref name="members"/> (users from <paramref name="firstUser"/> on); the first ten send; with a slow reader as one more seat.</summary>
    public static List<Seat> Seats(string room, int firstUser, int members, bool slowReader)
    {
        var seats = Enumerable.Range(0, members).Select(i => new Seat(firstUser + i, room, i < Senders ? i : -1)).ToList();
        if (slowReader)
        {
            seats.Add(new Seat(firstUser + members, room, -1, SlowReader: true));
        }

        return seats;
    }

    /// <summary>
    /// One unmeasured paced run of <c>--warmup-seconds</c>, as fanout has: the bench's own receive path is compiled
    /// and tiered up on the first target it meets, and that target measured slower for it (of two TinyChat builds, the
    /// one measured first in a fresh bench had the higher p50 in 9 of 10 paired runs, whichever build it was).
    /// </summary>
    public static async Task WarmUpAsync(BenchContext context, Target target, Crowd crowd, CancellationToken cancellationToken)
    {
        if (context.Options.WarmupSeconds > 0)
        {
            await MeasureAsync(context, target, crowd, context.Options.LatencyRate, padding: 0, cancellationToken, TimeSpan.FromSeconds(context.Options.WarmupSeconds)).ConfigureAwait(false);
        }
    }

    /// <summary>The longest one <see cref="MeasureAsync"/> may take.</summary>
    public static TimeSpan PerRun(BenchContext context) => SettleLimit + Warmup + TimeSpan.FromSeconds(Math.Max(context.Options.LatencySeconds, context.Options.WarmupSeconds)) + DrainLimit + TimeSpan.FromSeconds(1);

    /// <summary>Connects and joins <paramref name="seats"/> (the slow reader's loop never starts); receive loops end after <paramref name="limit"/>.</summary>
    public static Task<Crowd> GatherAsync(BenchContext context, Target target, List<Seat> seats, TimeSpan limit, CancellationToken cancellationToken) =>
        Crowd.GatherAsync(context, target, seats, NewMembers(seats, new Traffic(Senders, 1, releaseOnAck: false)), limit, cancellationToken);

    /// <summary>
    /// Waits for the server to be idle, then sends <paramref name="rate"/> messages/s for the warm-up plus the measured
    /// seconds (<paramref name="measuredFor"/>, or the latency seconds of the options) into the crowd's room, waits for
    /// deliveries to drain, and returns the latencies.
    /// </summary>
    public static async Task<Paced> MeasureAsync(BenchContext context, Target target, Crowd crowd, int rate, int padding, CancellationToken cancellationToken, TimeSpan? measuredFor = null)
    {
        // Joining pushes presence to every member: let the server finish that (or the previous run) before measuring.
        await target.SettleAsync(SettleLimit, cancellationToken, connectionsClosed: false).ConfigureAwait(false);
        var seats = crowd.Seats;
        var measured = measuredFor ?? TimeSpan.FromSeconds(context.Options.LatencySeconds);
        var senders = seats.Count(s => s.Sender >= 0);
        var traffic = new Traffic(senders, window: 1, releaseOnAck: false) { Latency = new LatencyHistogram() };
        crowd.Rebind(NewMembers(seats, traffic));
        var members = crowd.JoinedMembers();

        var serverBefore = await DurableScenario.CountersAsync(target, cancellationToken).ConfigureAwait(false);
        var net = NetCounters.Read();
        var cpu = CpuWindow.Start(target);
        var window = Stopwatch.StartNew();
        var start = Stopwatch.GetTimestamp() + (Stopwatch.Frequency / 5);
        traffic.RecordFrom = start + (long)(Warmup.TotalSeconds * Stopwatch.Frequency);
        var end = traffic.RecordFrom + (long)(measured.TotalSeconds * Stopwatch.Frequency);
        var sending = new List<Task>();
        for (var i = 0; i < seats.Count; i++)
        {
            if (seats[i].Sender >= 0 && crowd.Socket(i) is { } socket)
            {
                sending.Add(Flow.SendPacedAsync(socket, traffic, seats[i].Sender, senders, seats[i].Room, rate, start, end, padding, cancellationToken));
            }
        }

        await Task.WhenAll(sending).ConfigureAwait(false);
        var lastDelivery = await Flow.DrainAsync(members, DrainLimit, cancellationToken).ConfigureAwait(false);
        var (serverCpu, clientCpu) = cpu.Stop(target);
        var cpuSeconds = window.Elapsed.TotalSeconds;
        var wire = NetCounters.Read().Since(net);
        var serverAfter = await DurableScenario.CountersAsync(target, cancellationToken).ConfigureAwait(false);
        var integrity = Flow.Check(members);
        var seconds = Stopwatch.GetElapsedTime(start, lastDelivery).TotalSeconds;
        var note = string.Join("; ", new[] { crowd.FirstFailure, integrity.FirstError }.Where(n => !string.IsNullOrEmpty(n)));
        return new Paced(traffic.Latency, integrity, seconds, serverCpu, clientCpu, cpu.ServerThreads, note)
        {
            Wire = wire,
            CpuSeconds = cpuSeconds,
            Server = serverAfter.Since(serverBefore),
        };
    }

    private static Member?[] NewMembers(IReadOnlyList<Seat> seats, Traffic traffic)
    {
        var roomSenders = Enumerable.Range(0, seats.Count(s => s.Sender >= 0)).ToArray();
        return [.. seats.Select(seat => seat.SlowReader ? null : new Member(traffic, seat.Sender, roomSenders))];
    }
}
