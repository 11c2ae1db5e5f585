using System.Diagnostics;
using TinyChat.Bench.Client;
using TinyChat.Bench.Reporting;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>
/// Many connections at once (19,000 by default: this machine allows 20,000 open files per process), authenticated and
/// joined — the latency room's members (1,000) and everyone else in rooms of 100 — then held while the latency room
/// takes its fixed rate (100,000 deliveries/s by default) for the hold time. Reported: failed connections, connections
/// that did not survive the hold, the latency percentiles under that load, and the server's memory per connection.
/// </summary>
public sealed class HeldScenario : Scenario
{
    private const int RoomSize = 100;
    private static readonly TimeSpan GatherLimit = TimeSpan.FromMinutes(5);

    /// <inheritdoc />
    public override string Name => "held";

    /// <inheritdoc />
    public override IReadOnlyList<string> Shapes(BenchOptions options) =>
        [$"{options.HeldConnections} conns, 1x{Math.Min(options.LatencyMembers, options.HeldConnections)} @{options.LatencyRate}/s for {options.HoldSeconds:0.#} s"];

    /// <inheritdoc />
    public override bool AppliesTo(Target target) => !target.IsSink && !target.IsPhoenix;

    /// <inheritdoc />
    public override async Task RunAsync(BenchContext context, Target target, string shape, int runs, CancellationToken cancellationToken)
    {
        // One run whatever --runs says: holding 19,000 connections for a minute is the measurement, and a second run on
        // the same server would measure memory the runtime kept from the first.
        var options = context.Options;
        var total = options.HeldConnections;
        var roomMembers = Math.Min(options.LatencyMembers, total);
        var hold = TimeSpan.FromSeconds(options.HoldSeconds);
        var firstUser = context.Users($"{Name} {shape}", total);
        var latencySeats = LatencyScenario.Seats("held-lat", firstUser, roomMembers, slowReader: false);
        var others = Enumerable.Range(roomMembers, total - roomMembers).Select(i => new Seat(firstUser + i, $"held-{i / RoomSize}", -1)).ToList();
        var idle = new Traffic(0, 1, releaseOnAck: false);
        var limit = GatherLimit + (2 * LatencyScenario.PerRun(context)) + hold;
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(limit);
        await target.EnsureUsersAsync(firstUser + total, stop.Token).ConfigureAwait(false);
        await target.SettleAsync(TimeSpan.FromSeconds(10), stop.Token).ConfigureAwait(false);
        var before = target.Sample();

        var clock = Stopwatch.StartNew();
        await using var crowd = others.Count == 0
            ? null
            : await Crowd.GatherAsync(context, target, others, [.. others.Select(_ => new Member(idle, -1, []))], limit, stop.Token).ConfigureAwait(false);
        await using var room = await LatencyScenario.GatherAsync(context, target, latencySeats, limit, stop.Token).ConfigureAwait(false);
        var setupSeconds = clock.Elapsed.TotalSeconds;
        var failed = (crowd?.Failed ?? 0) + room.Failed;
        var joined = total - failed;
        context.Log($"held: {joined} of {total} connections joined in {setupSeconds:0.#} s; holding {hold.TotalSeconds:0.#} s under traffic");

        await LatencyScenario.WarmUpAsync(context, target, room, stop.Token).ConfigureAwait(false);
        var paced = await LatencyScenario.MeasureAsync(context, target, room, options.LatencyRate, padding: 0, stop.Token, hold).ConfigureAwait(false);
        var after = target.Sample();
        var dropped = Dropped(room) + (crowd is null ? 0 : Dropped(crowd));
        var metrics = new Dictionary<string, double>
        {
            ["connections"] = joined,
            ["failed"] = failed,
            ["dropped"] = dropped,
            ["setup_s"] = setupSeconds,
            ["held_s"] = paced.Seconds,
            ["p50_ms"] = paced.Latency.QuantileMilliseconds(0.50, paced.Missing),
            ["p99_ms"] = paced.Latency.QuantileMilliseconds(0.99, paced.Missing),
            ["p999_ms"] = paced.Latency.QuantileMilliseconds(0.999, paced.Missing),
            ["deliveries_per_s"] = paced.Integrity.Received / paced.Seconds,
            ["lost"] = paced.Integrity.Lost,
            ["duplicated"] = paced.Integrity.Duplicated,
            ["reordered"] = paced.Integrity.Reordered,
            ["errors"] = paced.Integrity.Errors,
            ["server_cpu"] = paced.ServerCpu,
            ["client_cpu"] = paced.ClientCpu,
            ["server_threads"] = paced.ServerThreads,
        };
        paced.AddCosts(metrics);
        if (before is { } b && after is { } a && joined > 0)
        {
            metrics["rss_after_mb"] = a.RssKilobytes / 1024.0;
            metrics["rss_kb_per_conn_whole"] = (a.RssKilobytes - b.RssKilobytes) / (double)joined;
        }

        var firstDrop = FirstDrop(room) ?? (crowd is null ? null : FirstDrop(crowd));
        var note = string.Join("; ", new[] { paced.Note, crowd?.FirstFailure, firstDrop }.Where(n => !string.IsNullOrEmpty(n)));
        context.Report.Add(new Measurement(Name, shape, target.Name, 1, metrics, note));
    }

    // Joined connections no longer open at the end of the hold: the server (or the network) ended them.
    private static int Dropped(Crowd crowd) =>
        Enumerable.Range(0, crowd.Seats.Count).Count(i => crowd.Socket(i) is { IsOpen: false });

    private static string? FirstDrop(Crowd crowd) =>
        Enumerable.Range(0, crowd.Seats.Count).Select(crowd.Socket).FirstOrDefault(s => s is { IsOpen: false }) is { } socket
            ? $"dropped connection {socket.Index}: {socket.CloseStatus} {socket.CloseReason}"
            : null;
}
