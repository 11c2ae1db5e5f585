using System.Diagnostics;
using TinyChat.Bench.Client;
using TinyChat.Bench.Measuring;
using TinyChat.Bench.Reporting;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>
/// TinyChat only: messages persisted per second. Every message carries a <c>ref</c>; TinyChat acknowledges it
/// (<c>{"ok":true,...}</c>) once it is durable and broadcast, and a sender's window opens only on acknowledgements.
/// Every member of every room sends. <c>durable</c> is one busy room, one cell per size in <c>--durable-members</c>
/// (1 x 10 and 1 x 100 by default; no size given: the one the scenario was made with); <c>durable-rooms</c> spreads the same
/// kind of load over 32 rooms of 2, where each room commits its batches on its own (PostgreSQL commits rooms in
/// parallel, SQLite through its one writer), and runs on each storage provider (tinychat = SQLite, tinychat-pg =
/// PostgreSQL) in the same run.
/// </summary>
public sealed class DurableScenario(string name, int rooms, int membersPerRoom, bool sizedByOptions = false) : Scenario
{
    private static readonly TimeSpan GatherLimit = TimeSpan.FromMinutes(2);
    private static readonly TimeSpan SettleLimit = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan DrainLimit = TimeSpan.FromSeconds(15);

    /// <inheritdoc />
    public override string Name => name;

    /// <inheritdoc />
    public override IReadOnlyList<string> Shapes(BenchOptions options) =>
        [.. (sizedByOptions ? options.DurableMembers : [membersPerRoom]).Select(members => $"{rooms}x{members}/{members} window {options.Window}")];

    /// <inheritdoc />
    public override bool AppliesTo(Target target) => target.IsTinyChat && !target.IsPhoenix;

    /// <inheritdoc />
    public override async Task RunAsync(BenchContext context, Target target, string shape, int runs, CancellationToken cancellationToken)
    {
        var duration = TimeSpan.FromSeconds(context.Options.Seconds);
        var size = MembersOf(shape);
        var firstUser = context.Users(Name, rooms * size);
        var seats = Enumerable.Range(0, rooms * size).Select(i => new Seat(firstUser + i, RoomOf(i, size), i)).ToList();
        var warmup = TimeSpan.FromSeconds(context.Options.WarmupSeconds);
        var limit = GatherLimit + (runs * (SettleLimit + duration + DrainLimit)) + SettleLimit + warmup + DrainLimit;

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stop.CancelAfter(limit);
        await using var crowd = await Crowd.GatherAsync(context, target, seats, NewMembers(seats, size, context.Options.Window).Members, limit, stop.Token).ConfigureAwait(false);
        if (warmup > TimeSpan.Zero)
        {
            // The same traffic, unreported, as fanout has: a first run would otherwise measure the server's JIT (a
            // cold run 1 reached half the rate of the next two), and the median of three would be the worse warm run.
            await target.SettleAsync(SettleLimit, stop.Token, connectionsClosed: false).ConfigureAwait(false);
            var (traffic, everyone) = NewMembers(seats, size, context.Options.Window);
            crowd.Rebind(everyone);
            await SendAsync(crowd, seats, traffic, warmup, stop.Token).ConfigureAwait(false);
            await Flow.DrainAsync(crowd.JoinedMembers(), DrainLimit, stop.Token).ConfigureAwait(false);
        }

        for (var run = 1; run <= runs; run++)
        {
            await target.SettleAsync(SettleLimit, stop.Token, connectionsClosed: false).ConfigureAwait(false);
            var (traffic, everyone) = NewMembers(seats, size, context.Options.Window);
            crowd.Rebind(everyone);
            var members = crowd.JoinedMembers();

            var before = await CountersAsync(target, stop.Token).ConfigureAwait(false);
            var cpu = CpuWindow.Start(target);
            var start = Stopwatch.GetTimestamp();
            await SendAsync(crowd, seats, traffic, duration, stop.Token).ConfigureAwait(false);

            // The rate is what was acknowledged while everyone sent: a member closed as a slow reader never drains,
            // and the wait for it must not count as time the server took.
            var sendSeconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var acksWhileSending = members.Sum(m => m?.Acks ?? 0);
            await Flow.DrainAsync(members, DrainLimit, stop.Token).ConfigureAwait(false);
            var seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            var (serverCpu, clientCpu) = cpu.Stop(target);
            var server = (await CountersAsync(target, stop.Token).ConfigureAwait(false)).Since(before);
            var (transactions, writes, committing) = (server.Transactions, server.Writes, server.Seconds);
            var integrity = Flow.Check(members);
            var acks = members.Sum(m => m?.Acks ?? 0);
            var databases = target.WorkFiles(".db");
            var closed = Enumerable.Range(0, seats.Count).Count(i => crowd.Socket(i)?.CloseStatus is not null);

            var metrics = new Dictionary<string, double>
            {
                ["acks_per_s"] = acksWhileSending / sendSeconds,
                ["acks_per_s_with_drain"] = acks / seconds,
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
                ["closed_by_server"] = closed,

                // The store's side, from the server's /metrics: group commits (one fsync each with Synchronous = Full)
                // per second, writes (room batches) per commit, messages per room batch.
                ["commits_per_s"] = transactions / seconds,
                ["writes_per_commit"] = transactions > 0 ? writes / transactions : 0,
                ["messages_per_write"] = writes > 0 ? acks / writes : 0,

                // The share of the time the store's writer spent committing (near 1: the writer is the limit).
                ["writer_busy"] = committing / seconds,
                ["commit_ms"] = transactions > 0 ? committing * 1000 / transactions : 0,

                // Bytes the server allocated per acknowledged message (drain included): unlike its CPU, this does not
                // depend on how much of the machine the server got, so it compares builds on a loaded machine.
                ["server_bytes_per_ack"] = acks > 0 ? server.Allocated / acks : 0,
            };
            var notes = new List<string>
            {
                target.Note,
                databases.Count > 0 ? "database files: " + string.Join(", ", databases.Select(Path.GetFileName)) : "no database file in the server's folder",
            };
            if (cpu.ThreadCpu.Length > 0)
            {
                notes.Add("server threads: " + cpu.ThreadCpu);
            }

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

    // One room keeps the original single-room scenario's name, so results stay comparable across versions.
    /// <summary>
    /// Store transactions, the writes they held, the seconds spent committing, the bytes the server's GC heap has
    /// allocated, the seconds its collections paused it and how many collections it ran so far (zeros without
    /// <c>/metrics</c>).
    /// </summary>
    public readonly record struct ServerCounters(double Transactions, double Writes, double Seconds, double Allocated, double GcPauseSeconds, double GcCollections)
    {
        /// <summary>What happened since <paramref name="earlier"/>.</summary>
        public ServerCounters Since(ServerCounters earlier) => new(Transactions - earlier.Transactions, Writes - earlier.Writes, Seconds - earlier.Seconds, Allocated - earlier.Allocated, GcPauseSeconds - earlier.GcPauseSeconds, GcCollections - earlier.GcCollections);

        /// <summary>The server's allocations and collections per item (a connection, a join), as bench metrics.</summary>
        public void AddPer(Dictionary<string, double> metrics, string item, double count)
        {
            if (count <= 0 || Allocated <= 0)
            {
                return;
            }

            metrics[$"server_kb_allocated_per_{item}"] = Allocated / 1024.0 / count;
            metrics[$"gc_collections_per_1000_{item}s"] = GcCollections * 1000.0 / count;
            metrics[$"gc_pause_ms_per_{item}"] = GcPauseSeconds * 1000.0 / count;
            if (Transactions > 0)
            {
                metrics[$"store_commits_per_1000_{item}s"] = Transactions * 1000.0 / count;
                metrics["store_ms_per_commit"] = Seconds * 1000.0 / Transactions;
            }
        }
    }

    /// <summary>The store's commits and the runtime's allocations and GC pauses so far, from the server's <c>/metrics</c> (zeros for a server without it).</summary>
    public static async Task<ServerCounters> CountersAsync(Target target, CancellationToken cancellationToken)
    {
        if (!target.IsTinyChat)
        {
            return default;
        }

        try
        {
            using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{target.Port}/"), Timeout = TimeSpan.FromSeconds(10) };
            var text = await http.GetStringAsync("metrics", cancellationToken).ConfigureAwait(false);
            return new(
                Exposition.Sum(text, "tinychat_store_commit_batch_size_count"),
                Exposition.Sum(text, "tinychat_store_commit_batch_size_sum"),
                Exposition.Sum(text, "tinychat_store_commit_duration_seconds_sum"),
                Exposition.Sum(text, "dotnet_gc_heap_total_allocated_bytes_total"),
                Exposition.Sum(text, "dotnet_gc_pause_time_seconds_total"),
                Exposition.Sum(text, "dotnet_gc_collections_total"));
        }
        catch (HttpRequestException)
        {
            return default;
        }
    }

    // Every member sends with its window for the duration; acknowledgements open the windows.
    private static Task SendAsync(Crowd crowd, List<Seat> seats, Traffic traffic, TimeSpan duration, CancellationToken cancellationToken)
    {
        var senders = new List<Task>();
        for (var i = 0; i < seats.Count; i++)
        {
            if (crowd.Socket(i) is { } socket)
            {
                senders.Add(Flow.SendWindowedAsync(socket, traffic, seats[i].Sender, seats[i].Room, duration, withRef: true, cancellationToken));
            }
        }

        return Task.WhenAll(senders);
    }

    // Each size of the one-room scenario has a room (and users) of its own.
    private string RoomOf(int seat, int members) => rooms == 1 ? (members == 10 ? "durable" : $"durable{members}") : $"durable-{seat / members}";

    private static int MembersOf(string shape) => int.Parse(shape[(shape.IndexOf('x') + 1)..shape.IndexOf('/')], System.Globalization.CultureInfo.InvariantCulture);

    private static (Traffic Traffic, Member[] Members) NewMembers(List<Seat> seats, int membersPerRoom, int window)
    {
        var traffic = new Traffic(seats.Count, window, releaseOnAck: true) { AckLatency = new LatencyHistogram() };
        return (traffic, [.. seats.Select(seat =>
        {
            var first = seat.Sender / membersPerRoom * membersPerRoom;
            return new Member(traffic, seat.Sender, [.. Enumerable.Range(first, membersPerRoom)]);
        })]);
    }
}
