using System.Diagnostics;
using TinyChat.Bench.Client;
using TinyChat.Bench.Measuring;
using TinyChat.Bench.Reporting;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>
/// TinyChat only, on each storage provider in the same run (tinychat = SQLite, tinychat-pg = PostgreSQL):
/// acknowledged, durable messages per second across <see cref="Rooms"/> rooms, every member a sender with a window
/// of unacknowledged messages. Each room commits its batches on its own; PostgreSQL commits rooms in parallel,
/// SQLite through its one writer (group commit).
/// </summary>
public sealed class DurableRoomsScenario : Scenario
{
    private const int Rooms = 32;
    private const int MembersPerRoom = 2;
    private static readonly TimeSpan GatherLimit = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan SettleLimit = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(15);

    /// <inheritdoc />
    public override string Name => "durable-rooms";

    /// <inheritdoc />
    public override IReadOnlyList<string> Shapes(BenchOptions options) => [$"{Rooms}x{MembersPerRoom}/{MembersPerRoom} window {options.Window}"];

    /// <inheritdoc />
    public override bool AppliesTo(Target target) => target.IsTinyChat;

    /// <inheritdoc />
    public override async Task RunAsync(BenchContext context, Target target, string shape, int runs, CancellationToken cancellationToken)
    {
        var duration = TimeSpan.FromSeconds(context.Options.Seconds);
        var senders = Rooms * MembersPerRoom;
        var firstUser = context.Users(Name, senders);
        var seats = Enumerable.Range(0, senders).Select(i => new Seat(firstUser + i, $"durable-{i / MembersPerRoom}", i)).ToList();
        var limit = GatherLimit + (runs * (SettleLimit + duration + DrainLimit));

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(limit);
        await using var crowd = await Crowd.GatherAsync(context, target, seats, NewMembers(seats, context.Options.Window).Members, limit, stop.Token).ConfigureAwait(false);
        for (var run = 1; run <= runs; run++)
        {
            await target.SettleAsync(SettleLimit, stop.Token, connectionsClosed: false).ConfigureAwait(false);
            var (traffic, everyone) = NewMembers(seats, context.Options.Window);
            crowd.Rebind(everyone);
            var members = crowd.JoinedMembers();

            var cpu = CpuWindow.Start(target);
            var start = Stopwatch.GetTimestamp();
            var flows = new List<Task>();
            for (var i = 0; i < seats.Count; i++)
            {
                if (crowd.Socket(i) is { } socket)
                {
                    flows.Add(Flow.SendWindowedAsync(socket, traffic, seats[i].Sender, seats[i].Room, duration, withRef: true, stop.Token));
                }
            }

            await Task.WhenAll(flows).ConfigureAwait(false);
            await Flow.DrainAsync(members, DrainLimit, stop.Token).ConfigureAwait(false);
            var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var (serverCpu, clientCpu) = cpu.Stop(target);
            var integrity = Flow.Check(members);
            var acks = members.Sum(m => m?.Acks ?? 0);
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
            };
            var notes = new List<string> { target.Note };
            if (integrity.FirstError is { } error)
            {
                notes.Add(error);
            }

            if (FanoutScenario.CloseNote(crowd, seats.Count) is { } close)
            {
                notes.Add(close);
            }

            context.Report.Add(new Measurement(Name, shape, target.Name, run, metrics, string.Join("; ", notes)));
        }
    }

    private static (Traffic Traffic, Member[] Members) NewMembers(List<Seat> seats, int window)
    {
        var traffic = new Traffic(seats.Count, window, releaseOnAck: true) { AckLatency = new LatencyHistogram() };
        return (traffic, [.. seats.Select(seat =>
        {
            var room = seat.Sender / MembersPerRoom;
            return new Member(traffic, seat.Sender, [.. Enumerable.Range(room * MembersPerRoom, MembersPerRoom)]);
        })]);
    }
}
