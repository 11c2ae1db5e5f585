using System.Diagnostics;
using TinyChat.Bench.Client;
using TinyChat.Bench.Measuring;
using TinyChat.Bench.Reporting;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>
/// TinyChat only: messages persisted per second. Every message carries a <c>ref</c>; TinyChat acknowledges it
/// (<c>{"ok":true,...}</c>) once it is durable and broadcast, and a sender's window opens only on acknowledgements.
/// </summary>
public sealed class DurableScenario : Scenario
{
    private const int Members = 10;
    private static readonly TimeSpan GatherLimit = TimeSpan.FromMinutes(1);
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(15);

    /// <inheritdoc />
    public override string Name => "durable";

    /// <inheritdoc />
    public override IReadOnlyList<string> Shapes(BenchOptions options) => [$"1x{Members}/{Members} window {options.Window}"];

    /// <inheritdoc />
    public override bool AppliesTo(Target target) => target.IsTinyChat;

    /// <inheritdoc />
    public override async Task<Measurement> RunAsync(BenchContext context, Target target, string shape, int run, CancellationToken cancellationToken)
    {
        var duration = TimeSpan.FromSeconds(context.Options.Seconds);
        const string room = "durable";
        var firstUser = context.Users(Name, Members);
        var seats = Enumerable.Range(0, Members).Select(i => new Seat(firstUser + i, room, i)).ToList();
        var traffic = new Traffic(Members, context.Options.Window, releaseOnAck: true) { AckLatency = new LatencyHistogram() };
        var roomSenders = Enumerable.Range(0, Members).ToArray();
        var everyone = seats.Select(seat => new Member(traffic, seat.Sender, roomSenders)).ToArray();

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(GatherLimit + duration + DrainLimit);
        await using var crowd = await Crowd.GatherAsync(context, target, seats, everyone, GatherLimit + duration + DrainLimit, limit.Token).ConfigureAwait(false);
        var members = crowd.JoinedMembers();

        var cpu = CpuWindow.Start(target);
        var start = Stopwatch.GetTimestamp();
        var senders = new List<Task>();
        for (var i = 0; i < seats.Count; i++)
        {
            if (crowd.Socket(i) is { } socket)
            {
                senders.Add(Flow.SendWindowedAsync(socket, traffic, seats[i].Sender, room, duration, withRef: true, limit.Token));
            }
        }

        await Task.WhenAll(senders).ConfigureAwait(false);
        await Flow.DrainAsync(members, DrainLimit, limit.Token).ConfigureAwait(false);
        var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
        var (serverCpu, clientCpu) = cpu.Stop(target);
        var integrity = Flow.Check(members);
        var acks = members.Sum(m => m?.Acks ?? 0);
        var databases = target.WorkFiles(".db");

        var metrics = new Dictionary<string, double>
        {
            ["acks_per_s"] = acks / seconds,
            ["acks"] = acks,
            ["sent"] = traffic.Sent.Sum(),
            ["ack_p50_ms"] = traffic.AckLatency!.QuantileMilliseconds(0.50),
            ["ack_p99_ms"] = traffic.AckLatency.QuantileMilliseconds(0.99),
            ["deliveries_per_s"] = integrity.Received / seconds,
            ["lost"] = integrity.Lost,
            ["duplicated"] = integrity.Duplicated,
            ["reordered"] = integrity.Reordered,
            ["errors"] = integrity.Errors,
            ["server_cpu"] = serverCpu,
            ["client_cpu"] = clientCpu,
            ["server_threads"] = cpu.ServerThreads,
            ["sqlite_files"] = databases.Count,
        };
        var note = $"{target.Note}; {(databases.Count > 0 ? "database files: " + string.Join(", ", databases.Select(Path.GetFileName)) : "no database file in the server's folder")}";
        if (cpu.ThreadCpu.Length > 0)
        {
            note += "; server threads: " + cpu.ThreadCpu;
        }

        if (integrity.FirstError is { } error)
        {
            note += "; " + error;
        }

        return new Measurement(Name, shape, target.Name, run, metrics, note);
    }
}
