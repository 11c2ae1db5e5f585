using System.Buffers.Text;
using System.Diagnostics;
using System.Net.WebSockets;
using TinyChat.Bench.Client;
using TinyChat.Bench.Reporting;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>
/// The independent load generator's join storm: N connections (10,000) that each connect, upgrade, join the same one
/// room and wait for the welcome, 200 in flight at a time, every one reading from the moment it has joined. Reported:
/// joins per second over the whole storm; the seconds from the start until every client's presence view — how many
/// users it believes are online in the room, from <c>presence_state</c>, <c>presence_diff</c> and
/// <c>presence_count</c> — equals the number that joined (the peers push no presence: their view is the join ack);
/// and the server's resident memory per connection at the last join and once every view is right.
/// </summary>
public sealed class JoinStormScenario : FreshRunsScenario
{
    private const int Attempts = 3;
    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(4);
    private static readonly TimeSpan ViewLimit = TimeSpan.FromSeconds(60);

    /// <inheritdoc />
    public override string Name => "join-storm";

    /// <inheritdoc />
    public override IReadOnlyList<string> Shapes(BenchOptions options) => [$"1x{options.StormConnections}, {options.StormParallelism} in flight"];

    /// <inheritdoc />
    public override bool AppliesTo(Target target) => !target.IsSink && !target.IsPhoenix;

    /// <inheritdoc />
    protected override async Task<Measurement> MeasureAsync(BenchContext context, Target target, string shape, int run, CancellationToken cancellationToken)
    {
        var count = context.Options.StormConnections;
        var firstUser = context.Users($"{Name} run {run}", count);
        var room = $"storm{run}";
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(Limit);
        await target.EnsureUsersAsync(firstUser + count, limit.Token).ConfigureAwait(false);
        await Crowd.CreateRoomsAsync(context, target, [new Seat(firstUser, room, -1)], limit.Token).ConfigureAwait(false);
        await target.SettleAsync(TimeSpan.FromSeconds(10), cancellationToken).ConfigureAwait(false);
        var before = target.Sample();
        var countersBefore = await DurableScenario.CountersAsync(target, limit.Token).ConfigureAwait(false);

        var views = new PresenceView[count];
        var sockets = new BenchSocket?[count];
        var receivers = new List<Task>(count);
        using var receiving = new CancellationTokenSource(Limit);
        var failed = 0;
        string? firstFailure = null;
        var cpu = CpuWindow.Start(target);
        var clock = Stopwatch.StartNew();
        try
        {
            await Parallel.ForEachAsync(
                Enumerable.Range(0, count),
                new ParallelOptions { MaxDegreeOfParallelism = context.Options.StormParallelism, CancellationToken = limit.Token },
                async (index, ct) =>
                {
                    var view = new PresenceView(firstUser, count, target.IsTinyChat);
                    Exception? last = null;
                    for (var attempt = 1; attempt <= Attempts && !ct.IsCancellationRequested; attempt++)
                    {
                        BenchSocket? socket = null;
                        try
                        {
                            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
                            timeout.CancelAfter(TimeSpan.FromSeconds(60));
                            socket = await BenchSocket.ConnectAsync(target.ChatUri(firstUser + index), context.Dialer.For(index), index, timeout.Token).ConfigureAwait(false);

                            // Lines before the welcome (the joiner's own presence diff, others' diffs) count for the view too.
                            await socket.RequestAsync($"{{\"command\":\"join\",\"room\":\"{room}\"}}", line => view.OnSetupLine(line), timeout.Token).ConfigureAwait(false);
                            views[index] = view;
                            sockets[index] = socket;
                            lock (receivers)
                            {
                                receivers.Add(socket.ReceiveLoopAsync(view, receiving.Token));
                            }

                            return;
                        }
                        catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException or HttpRequestException or InvalidOperationException)
                        {
                            last = ex;
                            if (socket is not null)
                            {
                                await socket.DisposeAsync().ConfigureAwait(false);
                            }

                            view = new PresenceView(firstUser, count, target.IsTinyChat);
                            if (!ct.IsCancellationRequested)
                            {
                                await Task.Delay(200 * attempt, CancellationToken.None).ConfigureAwait(false);
                            }
                        }
                    }

                    Interlocked.Increment(ref failed);
                    Interlocked.CompareExchange(ref firstFailure, $"seat {index}: {last?.GetType().Name}: {last?.Message}", null);
                }).ConfigureAwait(false);

            var joinSeconds = clock.Elapsed.TotalSeconds;
            var atLastJoin = target.Sample();
            var joined = count - failed;

            // Every client's view against the server's truth: everyone who joined is online.
            var viewSeconds = double.NaN;
            var wrong = 0;
            var viewDeadline = Stopwatch.StartNew();
            while (viewDeadline.Elapsed < ViewLimit && !limit.IsCancellationRequested)
            {
                wrong = views.Count(v => v is not null && !v.Agrees(joined));
                if (wrong == 0)
                {
                    viewSeconds = clock.Elapsed.TotalSeconds;
                    break;
                }

                await Task.Delay(50, limit.Token).ConfigureAwait(false);
            }

            var (serverCpu, clientCpu) = cpu.Stop(target);
            var atView = target.Sample();
            var counters = (await DurableScenario.CountersAsync(target, limit.Token).ConfigureAwait(false)).Since(countersBefore);
            var metrics = new Dictionary<string, double>
            {
                ["joined"] = joined,
                ["failed"] = failed,
                ["join_s"] = joinSeconds,
                ["joins_per_s"] = joined / joinSeconds,
                ["view_s"] = viewSeconds,
                ["view_after_last_join_s"] = viewSeconds - joinSeconds,
                ["views_wrong"] = wrong,
                ["presence_frames_per_conn"] = views.Where(v => v is not null).Average(v => (double)v.PresenceLines),
                ["presence_kb_per_conn"] = views.Where(v => v is not null).Average(v => v.PresenceBytes / 1024.0),
                ["server_cpu"] = serverCpu,
                ["server_cpu_ms_per_join"] = joined > 0 ? serverCpu * cpu.Seconds * 1000 / joined : 0,
                ["client_cpu"] = clientCpu,
            };
            counters.AddPer(metrics, "join", joined);
            if (before is { } b && joined > 0)
            {
                if (atLastJoin is { } j)
                {
                    metrics["rss_kb_per_conn_at_last_join"] = (j.RssKilobytes - b.RssKilobytes) / (double)joined;
                }

                if (atView is { } v)
                {
                    metrics["rss_kb_per_conn_at_view"] = (v.RssKilobytes - b.RssKilobytes) / (double)joined;
                }
            }

            var note = string.Join("; ", new[]
            {
                cpu.ThreadCpu.Length > 0 ? "server threads: " + cpu.ThreadCpu : null,
                firstFailure,
                wrong > 0 ? $"{wrong} views still wrong after {ViewLimit.TotalSeconds:0} s, e.g. {views.First(v => v is not null && !v.Agrees(joined)).Online} of {joined}" : null,
            }.Where(n => !string.IsNullOrEmpty(n)));
            context.Log($"join-storm -> {target.Name}: {joined} joined in {joinSeconds:0.0} s ({joined / joinSeconds:0} joins/s), views right at {viewSeconds:0.0} s");
            return new Measurement(Name, shape, target.Name, run, metrics, note);
        }
        finally
        {
            foreach (var socket in sockets)
            {
                if (socket is not null)
                {
                    await socket.DisposeAsync().ConfigureAwait(false);
                }
            }

            await receiving.CancelAsync().ConfigureAwait(false);
            Task[] loops;
            lock (receivers)
            {
                loops = [.. receivers];
            }

            await Task.WhenAll(loops).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// What one client believes about the room's presence: the users it was told are online (a bit per bench user of
    /// the storm), or the count the server last pushed for a room too big to list. Only its receive loop writes it.
    /// </summary>
    private sealed class PresenceView(int firstUser, int users, bool pushesPresence) : ILineHandler
    {
        private static readonly byte[] CountKey = "\"presence_count\""u8.ToArray();
        private static readonly byte[] StateKey = "\"presence_state\""u8.ToArray();
        private static readonly byte[] DiffKey = "\"presence_diff\""u8.ToArray();
        private static readonly byte[] OnlineKey = "\"online\":"u8.ToArray();
        private static readonly byte[] LeavesKey = "\"leaves\""u8.ToArray();
        private static readonly byte[] NamePrefix = "\"bench"u8.ToArray();
        private readonly ulong[] bits = new ulong[(users + 63) / 64];
        private int listed;
        private int counted = -1;
        private int online;

        /// <summary>Users this client believes are online (the peers: everyone, once joined).</summary>
        public int Online => Volatile.Read(ref online);

        /// <summary>Presence lines received.</summary>
        public long PresenceLines { get; private set; }

        /// <summary>Bytes of presence lines received.</summary>
        public long PresenceBytes { get; private set; }

        /// <summary>Whether the view is the server's: a peer pushes no presence, so its client's view is its join ack.</summary>
        public bool Agrees(int joined) => !pushesPresence || Online == joined;

        public bool OnSetupLine(string line)
        {
            OnLine(System.Text.Encoding.UTF8.GetBytes(line), 0);
            return line.Contains("\"message\":\"welcome", StringComparison.Ordinal) || line.Contains("already_joined", StringComparison.Ordinal)
                || (line.StartsWith("{\"error\"", StringComparison.Ordinal) ? throw new InvalidOperationException($"server said {line}") : false);
        }

        public void OnLine(ReadOnlySpan<byte> line, long receivedAt)
        {
            if (line.IndexOf(CountKey) is var c and >= 0)
            {
                Count(line[c..]);
            }
            else if (line.IndexOf(StateKey) >= 0)
            {
                Array.Clear(bits);
                listed = 0;
                Names(line, set: true);
                if (line.IndexOf(OnlineKey) is var o and >= 0)
                {
                    // A paged state names a page and counts everyone.
                    Count(line[o..]);
                }
                else
                {
                    counted = -1;
                }
            }
            else if (line.IndexOf(DiffKey) >= 0)
            {
                var leaves = line.IndexOf(LeavesKey);
                Names(leaves < 0 ? line : line[..leaves], set: true);
                if (leaves >= 0)
                {
                    Names(line[leaves..], set: false);
                }
            }
            else
            {
                return;
            }

            PresenceLines++;
            PresenceBytes += line.Length;
            Volatile.Write(ref online, counted >= 0 ? counted : listed);
        }

        private void Count(ReadOnlySpan<byte> from)
        {
            var at = from.IndexOf(OnlineKey);
            if (at >= 0 && Utf8Parser.TryParse(from[(at + OnlineKey.Length)..], out int value, out _))
            {
                counted = value;
            }
        }

        private void Names(ReadOnlySpan<byte> text, bool set)
        {
            while (text.IndexOf(NamePrefix) is var at and >= 0)
            {
                text = text[(at + NamePrefix.Length)..];
                if (!Utf8Parser.TryParse(text, out int number, out var used) || used >= text.Length || text[used] != (byte)'"')
                {
                    continue;
                }

                var index = number - firstUser;
                if (index < 0 || index >= users)
                {
                    continue;
                }

                var mask = 1UL << (index & 63);
                var had = (bits[index >> 6] & mask) != 0;
                if (set && !had)
                {
                    bits[index >> 6] |= mask;
                    listed++;
                }
                else if (!set && had)
                {
                    bits[index >> 6] &= ~mask;
                    listed--;
                }
            }
        }
    }
}
