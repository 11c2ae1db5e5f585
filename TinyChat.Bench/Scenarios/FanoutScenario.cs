using System.Diagnostics;
using TinyChat.Bench.Client;
using TinyChat.Bench.Measuring;
using TinyChat.Bench.Reporting;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>
/// R rooms of M members; S senders (spread over the rooms) send as fast as their in-flight window allows for
/// T seconds. Deliveries per second, and every receiver's exactly-once / per-sender-order check. Against the
/// <c>phoenix</c> target the same shapes run over TinyChat's Phoenix Channels door (phoenix.js's wire format).
/// </summary>
public sealed class FanoutScenario : Scenario
{
    private static readonly TimeSpan GatherLimit = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan SettleLimit = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(15);

    /// <inheritdoc />
    public override string Name => "fanout";

    /// <inheritdoc />
    public override IReadOnlyList<string> Shapes(BenchOptions options) => [.. options.Shapes.Select(s => s.ToString())];

    /// <inheritdoc />
    public override bool AppliesTo(Target target, string shape, BenchContext context) =>
        !target.IsSink || (2L * FanoutShape.Parse(shape).Connections) + 1000 < context.FileLimit;

    /// <inheritdoc />
    public override async Task RunAsync(BenchContext context, Target target, string shape, int runs, CancellationToken cancellationToken)
    {
        var fanout = FanoutShape.Parse(shape);
        var duration = TimeSpan.FromSeconds(context.Options.Seconds);
        var (seats, roomSenders) = Layout(fanout, context.Users($"{Name} {shape}", fanout.Connections));
        var perRun = SettleLimit + duration + DrainLimit;

        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(GatherLimit + ((runs + 1) * perRun));
        // Registering the users (TinyChat only: the peers take any name) is reported apart from seating them, which is
        // what the peers are compared on.
        var registering = Stopwatch.StartNew();
        await target.EnsureUsersAsync(seats.Max(s => s.User) + 1, limit.Token).ConfigureAwait(false);
        var registerSeconds = registering.Elapsed.TotalSeconds;
        var setup = Stopwatch.StartNew();
        await using var crowd = await Crowd.GatherAsync(context, target, seats, NewMembers(seats, roomSenders, fanout.Senders, context.Options.Window).Members, GatherLimit + ((runs + 1) * perRun), limit.Token).ConfigureAwait(false);
        var setupSeconds = setup.Elapsed.TotalSeconds;

        if (context.Options.WarmupSeconds > 0)
        {
            // The same traffic, unreported: a server that has not compiled its hot path yet would be measured
            // compiling it (a cold JIT costs seconds of CPU here), and that is not what fan-out is about.
            await target.SettleAsync(SettleLimit, limit.Token, connectionsClosed: false).ConfigureAwait(false);
            var (traffic, everyone) = NewMembers(seats, roomSenders, fanout.Senders, context.Options.Window);
            crowd.Rebind(everyone);
            await SendAsync(crowd, seats, traffic, TimeSpan.FromSeconds(context.Options.WarmupSeconds), limit.Token, target.IsPhoenix).ConfigureAwait(false);
        }

        for (var run = 1; run <= runs; run++)
        {
            // Joining pushes presence to every member: let the server finish that (or the previous run) before measuring.
            await target.SettleAsync(SettleLimit, limit.Token, connectionsClosed: false).ConfigureAwait(false);
            var (traffic, everyone) = NewMembers(seats, roomSenders, fanout.Senders, context.Options.Window);
            crowd.Rebind(everyone);
            var members = crowd.JoinedMembers();

            var cpu = CpuWindow.Start(target);
            var net = NetCounters.Read();
            var socketsBefore = SocketSegments.Read(context.Dialer.Sockets, target.Port);
            var start = Stopwatch.GetTimestamp();
            var lastDelivery = await SendAsync(crowd, seats, traffic, duration, limit.Token, target.IsPhoenix).ConfigureAwait(false);
            var wire = NetCounters.Read().Since(net);
            var split = SocketSegments.Between(socketsBefore, SocketSegments.Read(context.Dialer.Sockets, target.Port));
            var (serverCpu, clientCpu) = cpu.Stop(target);
            var seconds = Stopwatch.GetElapsedTime(start, lastDelivery).TotalSeconds;
            var integrity = Flow.Check(members);
            var closed = Enumerable.Range(0, seats.Count).Count(i => crowd.Socket(i)?.CloseStatus is not null);

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
                ["closed_by_server"] = closed,
                ["seconds"] = seconds,
                ["setup_s"] = setupSeconds,
                ["register_s"] = target.IsTinyChat ? registerSeconds : double.NaN,
                ["server_cpu"] = serverCpu,
                ["client_cpu"] = clientCpu,
                ["server_threads"] = cpu.ServerThreads,
                ["client_cpu_us_per_delivery"] = integrity.Received == 0 ? double.NaN : clientCpu * seconds * 1e6 / integrity.Received,
                ["server_cpu_us_per_delivery"] = integrity.Received == 0 ? double.NaN : serverCpu * seconds * 1e6 / integrity.Received,
                ["segments_per_1000_deliveries"] = integrity.Received == 0 ? double.NaN : wire.Segments * 1000.0 / integrity.Received,
                ["bytes_per_delivery"] = integrity.Received == 0 ? double.NaN : (double)wire.Bytes / integrity.Received,
                ["member_data_in_per_1000"] = PerThousand(split.MemberDataIn, integrity.Received),
                ["member_acks_in_per_1000"] = PerThousand(split.MemberAcksIn, integrity.Received),
                ["member_data_out_per_1000"] = PerThousand(split.MemberDataOut, integrity.Received),
                ["member_acks_out_per_1000"] = PerThousand(split.MemberAcksOut, integrity.Received),
                ["sender_data_in_per_1000"] = PerThousand(split.SenderDataIn, integrity.Received),
                ["sender_acks_in_per_1000"] = PerThousand(split.SenderAcksIn, integrity.Received),
                ["sender_data_out_per_1000"] = PerThousand(split.SenderDataOut, integrity.Received),
                ["sender_acks_out_per_1000"] = PerThousand(split.SenderAcksOut, integrity.Received),
                ["sender_segments_per_1000"] = PerThousand(split.SenderDataIn + split.SenderAcksIn + split.SenderDataOut + split.SenderAcksOut, integrity.Received),
                ["socket_segments_per_1000"] = PerThousand(split.Total, integrity.Received),
                ["deliveries_per_data_segment"] = split.MemberDataIn + split.SenderDataIn == 0 ? double.NaN : (double)integrity.Received / (split.MemberDataIn + split.SenderDataIn),
            };
            var threads = cpu.ThreadCpu.Length > 0 ? "server threads: " + cpu.ThreadCpu : null;
            var note = string.Join("; ", new[] { threads, crowd.FirstFailure, integrity.FirstError, CloseNote(crowd, seats.Count) }.Where(n => !string.IsNullOrEmpty(n)));
            context.Report.Add(new Measurement(Name, shape, target.Name, run, metrics, note));
        }
    }

    private static double PerThousand(long segments, long deliveries) => deliveries == 0 ? double.NaN : segments * 1000.0 / deliveries;

    /// <summary>Every sender sends for the duration (in Phoenix frames when <paramref name="phoenix"/>), then every delivery is awaited; returns the time of the last one.</summary>
    public static async Task<long> SendAsync(Crowd crowd, List<Seat> seats, Traffic traffic, TimeSpan duration, CancellationToken cancellationToken, bool phoenix = false)
    {
        var senders = new List<Task>();
        for (var i = 0; i < seats.Count; i++)
        {
            if (seats[i].Sender >= 0 && crowd.Socket(i) is { } socket)
            {
                senders.Add(Flow.SendWindowedAsync(socket, traffic, seats[i].Sender, seats[i].Room, duration, withRef: false, cancellationToken, phoenix));
            }
        }

        await Task.WhenAll(senders).ConfigureAwait(false);
        return await Flow.DrainAsync(crowd.JoinedMembers(), DrainLimit, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Fresh counters for one run: the traffic and one member per seat.</summary>
    public static (Traffic Traffic, Member[] Members) NewMembers(List<Seat> seats, Dictionary<string, int[]> roomSenders, int senders, int window)
    {
        var traffic = new Traffic(senders, window, releaseOnAck: false);
        return (traffic, [.. seats.Select(seat => new Member(traffic, seat.Sender, roomSenders[seat.Room]))]);
    }

    /// <summary>Seats room by room (users from <paramref name="firstUser"/> on); the first senders of each room's members send.</summary>
    public static (List<Seat> Seats, Dictionary<string, int[]> RoomSenders) Layout(FanoutShape shape, int firstUser)
    {
        var seats = new List<Seat>(shape.Connections);
        var roomSenders = new Dictionary<string, int[]>();
        var nextSender = 0;
        for (var r = 0; r < shape.Rooms; r++)
        {
            var room = $"fan{shape.Rooms}x{shape.Members}-{r}";
            var senders = (shape.Senders / shape.Rooms) + (r < shape.Senders % shape.Rooms ? 1 : 0);
            roomSenders[room] = [.. Enumerable.Range(nextSender, senders)];
            for (var m = 0; m < shape.Members; m++)
            {
                seats.Add(new Seat(firstUser + seats.Count, room, m < senders ? nextSender + m : -1));
            }

            nextSender += senders;
        }

        return (seats, roomSenders);
    }

    /// <summary>The first close the server sent, if any.</summary>
    public static string? CloseNote(Crowd crowd, int count)
    {
        for (var i = 0; i < count; i++)
        {
            if (crowd.Socket(i) is { CloseStatus: not null } socket)
            {
                return $"server closed seat {i}: {socket.CloseStatus} {socket.CloseReason}";
            }
        }

        return null;
    }
}
