using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using TinyChat.Bench.Client;
using TinyChat.Bench.Measuring;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Soak;

/// <summary>
/// <c>tinychat-bench soak</c>: one TinyChat server process (Release build, SQLite, the rate limits on) under mixed
/// traffic for a bounded time — steady talkers and listeners (whose send-to-receive latency is measured), churning
/// clients that connect, join, post, read history and drop, flooders that hit the rate limits until the server
/// closes them, slow readers the server must close, history pagers, users hopping between rooms, private messages —
/// reporting the server's memory, descriptors, GC pauses and p99 latency per interval and the trend at the end.
/// </summary>
public static partial class SoakRun
{
    private const int TalkRooms = 4;
    private const int Talkers = 20;
    private const int Listeners = 40;
    private const int Churners = 8;
    private const int ChurnUsersEach = 2;
    private const int ChurnUsers = Churners * ChurnUsersEach;
    private const int Flooders = 2;
    private const int SlowReaders = 2;
    private const int BulkSenders = 3;
    private const int Pagers = 4;
    private const int Hoppers = 4;
    private const int PrivatePairs = 4;

    // Users by role, in this order: talkers, listeners, churn pool, flooders, slow readers, bulk senders, pagers,
    // hoppers, private senders, private recipients.
    private const int FirstListener = Talkers;
    private const int FirstChurner = FirstListener + Listeners;
    private const int FirstFlooder = FirstChurner + ChurnUsers;
    private const int FirstSlow = FirstFlooder + Flooders;
    private const int FirstBulk = FirstSlow + SlowReaders;
    private const int FirstPager = FirstBulk + BulkSenders;
    private const int FirstHopper = FirstPager + Pagers;
    private const int FirstSender = FirstHopper + Hoppers;
    private const int FirstRecipient = FirstSender + PrivatePairs;
    private const int Users = FirstRecipient + PrivatePairs;

    private static readonly TimeSpan SlowReaderIdle = TimeSpan.FromSeconds(120);

    // Every actor's loop is bounded in count as well as by the run's end.
    private const int MaxIterations = 1_000_000;

    // The limits a public server runs with (chat.config.json's defaults), so floods meet them; only the per-address
    // limits stay off, because every client of the soak comes from one address.
    private static readonly string[] LimitsOn =
    [
        "--Limits:MessagesPerSecond", "10",
        "--Limits:MessageBurst", "30",
        "--Limits:FramesPerSecond", "50",
        "--Limits:FrameBurst", "100",
        "--Limits:FloodDisconnectAfter", "50",
    ];

    private static long refs;

    /// <summary>Runs the soak; 0 when the trend is flat, 1 when not, 2 on bad arguments.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, CancellationToken cancellationToken)
    {
        SoakOptions options;
        try
        {
            options = SoakOptions.Parse(args, Environment.GetEnvironmentVariable("SOAK_SECONDS"));
        }
        catch (ArgumentException ex)
        {
            Console.Error.WriteLine(ex.Message);
            return 2;
        }

        FileLimit.RaiseToHard();
        var paths = RepositoryPaths.Locate();
        var logPath = Path.Combine(paths.Root, "bench-results", "logs", $"soak-{DateTime.UtcNow:yyyyMMdd-HHmmss}.log");
        Directory.CreateDirectory(Path.GetDirectoryName(logPath)!);
        Log($"soak: {options.Seconds} s of mixed traffic, a report every {options.Interval} s; server log {logPath}");

        await using var target = await Target.StartTinyChatAsync(paths, [.. LimitsOn, .. options.TinyChatArgs], logPath, cancellationToken).ConfigureAwait(false);
        var pid = target.Pid ?? throw new InvalidOperationException("the soak needs a server process");
        Log($"TinyChat pid {pid} on 127.0.0.1:{target.Port} (SQLite; limits on: 10 messages/s per user, 50 frames/s per connection; load average {LoadAverage()})");
        using var dialer = new Dialer();
        using var metrics = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{target.Port}/"), Timeout = TimeSpan.FromSeconds(10) };
        var tally = new SoakTally();
        var soak = new Soak(target, dialer, tally);

        await target.EnsureUsersAsync(Users, cancellationToken).ConfigureAwait(false);
        await soak.SetUpAsync(cancellationToken).ConfigureAwait(false);
        Log($"{Users} users, {TalkRooms + 2} rooms set up; traffic starts");

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var actors = soak.Start(stop.Token);
        var samples = new List<SoakSample>();
        var started = Stopwatch.GetTimestamp();
        var before = tally.Snapshot();
        var pauseBefore = await GcPauseSecondsAsync(metrics, cancellationToken).ConfigureAwait(false);
        Console.Out.WriteLine("interval | min | RSS MiB | GC heap MiB | fds | GC pause ms | p99 ms | probes sent/received | counts in the interval (errors by code, closes by reason, activity)");
        try
        {
            for (var k = 1; k * options.Interval <= options.Seconds; k++)
            {
                var due = TimeSpan.FromSeconds(k * options.Interval) - Stopwatch.GetElapsedTime(started);
                if (due > TimeSpan.Zero)
                {
                    await Task.Delay(due, cancellationToken).ConfigureAwait(false);
                }

                var latency = tally.NextInterval();
                var process = ProcessSample.Read(pid) ?? throw new InvalidOperationException("the server process is gone");
                var pause = await GcPauseSecondsAsync(metrics, cancellationToken).ConfigureAwait(false);
                var sample = new SoakSample(
                    Stopwatch.GetElapsedTime(started).TotalMinutes,
                    process.RssKilobytes / 1024.0,
                    await GcHeapBytesAsync(metrics, cancellationToken).ConfigureAwait(false) / (1024.0 * 1024.0),
                    Descriptors(pid),
                    (pause - pauseBefore) * 1000,
                    latency.QuantileMilliseconds(0.99));
                pauseBefore = pause;
                samples.Add(sample);
                var now = tally.Snapshot();
                var delta = now.Select(p => (p.Key, N: p.Value - before.GetValueOrDefault(p.Key))).Where(p => p.N != 0).OrderBy(p => p.Key, StringComparer.Ordinal).ToList();
                before = now;
                Console.Out.WriteLine(string.Create(
                    CultureInfo.InvariantCulture,
                    $"{k,8} | {sample.AtMinutes,3:F1} | {sample.RssMiB,7:F1} | {sample.GcHeapMiB,11:F1} | {sample.Descriptors,3} | {sample.GcPauseMs,11:F0} | {sample.P99Ms,6:F1} | {Get(delta, "sent")}/{Get(delta, "received")} | {string.Join(", ", delta.Where(p => p.Key is not ("sent" or "received")).Select(p => $"{p.Key}={p.N}"))}"));
            }
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            try
            {
                await Task.WhenAll(actors).WaitAsync(TimeSpan.FromSeconds(30), CancellationToken.None).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                Log("some clients did not stop within 30 s");
            }
        }

        var minutes = options.Seconds >= 600 ? 5 : options.Seconds / 120.0;
        var trend = SoakTrend.Of(samples, minutes);
        var totals = tally.Snapshot().OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}");
        Console.Out.WriteLine();
        Console.Out.WriteLine($"totals: {string.Join(", ", totals)}");
        Console.Out.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"slopes over the last {trend.Minutes:F1} min ({trend.Samples} samples): RSS {trend.RssMiBPerMinute:+0.00;-0.00} MiB/min (limit {SoakTrend.RssLimit}), GC heap {trend.GcHeapMiBPerMinute:+0.00;-0.00} MiB/min (limit {SoakTrend.GcHeapLimit}), descriptors {trend.DescriptorsPerMinute:+0.0;-0.0}/min (limit {SoakTrend.DescriptorsLimit}), p99 {trend.P99MsPerMinute:+0.0;-0.0} ms/min (limit {trend.P99Limit:F1}: {SoakTrend.P99Share:P0} of the median p99 {trend.MedianP99Ms:F1} ms, at least {SoakTrend.P99Floor})"));
        Console.Out.WriteLine($"load average at the end: {LoadAverage()} (the machine's, not the server's)");
        Console.Out.WriteLine($"verdict: {(trend.Flat ? "flat" : "NOT flat")}");
        return trend.Flat ? 0 : 1;
    }

    private static long Get(List<(string Key, long N)> counts, string key) => counts.FirstOrDefault(p => p.Key == key).N;

    private static void Log(string text) => Console.Error.WriteLine($"[{DateTime.UtcNow:HH:mm:ss}] {text}");

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static int Descriptors(int pid)
    {
        try
        {
            return Directory.EnumerateFileSystemEntries($"/proc/{pid}/fd").Count();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return -1;
        }
    }

    // The runtime's own meter (System.Runtime) as TinyChat's /metrics exposes it.
    private static async Task<double> GcPauseSecondsAsync(HttpClient metrics, CancellationToken cancellationToken) =>
        Exposition.Sum(await metrics.GetStringAsync("metrics", cancellationToken).ConfigureAwait(false), "dotnet_gc_pause_time_seconds_total");

    private static async Task<double> GcHeapBytesAsync(HttpClient metrics, CancellationToken cancellationToken) =>
        Exposition.Sum(await metrics.GetStringAsync("metrics", cancellationToken).ConfigureAwait(false), "dotnet_gc_last_collection_heap_size_bytes");

    [GeneratedRegex("\"id\":(\\d+)")]
    private static partial Regex Ids();

    /// <summary>The clients of one soak and what each kind does.</summary>
    private sealed class Soak(Target target, Dialer dialer, SoakTally tally)
    {
        private static string Room(int k) => $"soak{k}";

        private static string User(int user) => $"bench{user}";

        public async Task SetUpAsync(CancellationToken cancellationToken)
        {
            await using (var owner = await ConnectAsync(0, false, cancellationToken).ConfigureAwait(false))
            {
                foreach (var room in Enumerable.Range(0, TalkRooms).Select(Room).Append("soak-bulk").Append("soak-flood"))
                {
                    await AskAsync(owner, $"\"command\":\"create\",\"room\":\"{room}\"", cancellationToken).ConfigureAwait(false);
                }
            }

            // Memberships are stored, so each user joins once here and its later connections are members already.
            var joins = new List<(int User, string Room)>();
            joins.AddRange(Enumerable.Range(0, Talkers).Select(u => (u, Room(u % TalkRooms))));
            joins.AddRange(Enumerable.Range(FirstListener, Listeners).Select(u => (u, Room(u % TalkRooms))));
            joins.AddRange(Enumerable.Range(FirstFlooder, Flooders).Select(u => (u, "soak-flood")));
            joins.AddRange(Enumerable.Range(FirstSlow, SlowReaders + BulkSenders).Select(u => (u, "soak-bulk")));
            joins.AddRange(Enumerable.Range(FirstPager, Pagers).Select(u => (u, Room(0))));
            await Parallel.ForEachAsync(joins.GroupBy(j => j.User), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = cancellationToken }, async (rooms, ct) =>
            {
                await using var socket = await ConnectAsync(rooms.Key, false, ct).ConfigureAwait(false);
                foreach (var (_, room) in rooms)
                {
                    await AskAsync(socket, $"\"command\":\"join\",\"room\":\"{room}\"", ct).ConfigureAwait(false);
                }
            }).ConfigureAwait(false);
        }

        public List<Task> Start(CancellationToken stop)
        {
            var actors = new List<Task>();
            actors.AddRange(Enumerable.Range(0, Talkers).Select(u => Run("talker", () => TalkAsync(u, stop), stop)));
            actors.AddRange(Enumerable.Range(FirstListener, Listeners).Select(u => Run("listener", () => ListenAsync(u, stop), stop)));
            actors.AddRange(Enumerable.Range(0, Churners).Select(c => Run("churner", () => ChurnAsync(c, stop), stop)));
            actors.AddRange(Enumerable.Range(FirstFlooder, Flooders).Select(u => Run("flooder", () => FloodAsync(u, stop), stop)));
            actors.AddRange(Enumerable.Range(FirstSlow, SlowReaders).Select(u => Run("slow reader", () => ReadSlowlyAsync(u, stop), stop)));
            actors.AddRange(Enumerable.Range(FirstBulk, BulkSenders).Select(u => Run("bulk sender", () => SendBulkAsync(u, stop), stop)));
            actors.AddRange(Enumerable.Range(FirstPager, Pagers).Select(u => Run("pager", () => PageAsync(u, stop), stop)));
            actors.AddRange(Enumerable.Range(FirstHopper, Hoppers).Select(u => Run("hopper", () => HopAsync(u, stop), stop)));
            actors.AddRange(Enumerable.Range(0, PrivatePairs).Select(p => Run("private", () => WritePrivatelyAsync(FirstSender + p, FirstRecipient + p, stop), stop)));
            actors.AddRange(Enumerable.Range(FirstRecipient, PrivatePairs).Select(u => Run("recipient", () => ListenAsync(u, stop), stop)));
            return actors;
        }

        // An actor that fails is counted and starts over after a pause, until the end of the run.
        private Task Run(string kind, Func<Task> actor, CancellationToken stop) => Task.Run(async () =>
        {
            for (var attempt = 0; attempt < MaxIterations && !stop.IsCancellationRequested; attempt++)
            {
                try
                {
                    await actor().ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested)
                {
                    return;
                }
                catch (Exception ex)
                {
                    tally.Count($"client failure:{kind}:{ex.GetType().Name}");
                }

                try
                {
                    await Task.Delay(TimeSpan.FromSeconds(1), stop).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
            }
        });

        private async Task<BenchSocket> ConnectAsync(int user, bool slow, CancellationToken cancellationToken)
        {
            var socket = await BenchSocket.ConnectAsync(target.NativeChatUri(user), dialer.For(user, slow), user, cancellationToken).ConfigureAwait(false);
            tally.Count("connects");
            return socket;
        }

        // A request with a ref of its own; the reply is the line that carries it (broadcasts in between are skipped).
        private async Task<string> AskAsync(BenchSocket socket, string fields, CancellationToken cancellationToken)
        {
            var reference = $"s{Interlocked.Increment(ref refs)}";
            var marker = $"\"ref\":\"{reference}\"";
            var reply = await socket.RequestAsync($"{{{fields},\"ref\":\"{reference}\"}}", line => line.Contains(marker, StringComparison.Ordinal), cancellationToken).ConfigureAwait(false);
            if (reply.StartsWith("{\"error\"", StringComparison.Ordinal))
            {
                tally.Error(Encoding.UTF8.GetBytes(reply));
            }

            return reply;
        }

        // Posts a timestamped probe twice a second (under the limit) and reads its room like a listener.
        private async Task TalkAsync(int user, CancellationToken stop)
        {
            await using var socket = await ConnectAsync(user, false, stop).ConfigureAwait(false);
            var receiving = socket.ReceiveLoopAsync(tally.Listener("talker lines"), stop);
            var frame = new byte[Probe.FrameCapacity(Room(0), 0)];
            var sequence = 0L;
            for (var i = 0; i < MaxIterations && !stop.IsCancellationRequested && !receiving.IsCompleted; i++)
            {
                var n = Probe.WriteFrame(frame, Room(user % TalkRooms), user, ++sequence, Stopwatch.GetTimestamp(), 0, withRef: false);
                await socket.SendAsync(frame.AsMemory(0, n), stop).ConfigureAwait(false);
                tally.Count("sent");
                await Task.Delay(TimeSpan.FromMilliseconds(500), stop).ConfigureAwait(false);
            }

            await receiving.ConfigureAwait(false);
            if (!stop.IsCancellationRequested)
            {
                tally.Closed(socket);
            }
        }

        private async Task ListenAsync(int user, CancellationToken stop)
        {
            await using var socket = await ConnectAsync(user, false, stop).ConfigureAwait(false);
            await socket.ReceiveLoopAsync(tally.Listener("listener lines"), stop).ConfigureAwait(false);
            if (!stop.IsCancellationRequested)
            {
                tally.Closed(socket);
            }
        }

        // Connect, join, post, read a page of history, leave, then drop the connection without a close.
        private async Task ChurnAsync(int churner, CancellationToken stop)
        {
            for (var i = 0; i < MaxIterations && !stop.IsCancellationRequested; i++)
            {
                // Users of its own, so no two churners join or leave as the same user at once.
                var user = FirstChurner + (churner * ChurnUsersEach) + (i % ChurnUsersEach);
                var room = Room(i % TalkRooms);
                await using (var socket = await ConnectAsync(user, false, stop).ConfigureAwait(false))
                {
                    await AskAsync(socket, $"\"command\":\"join\",\"room\":\"{room}\"", stop).ConfigureAwait(false);
                    await AskAsync(socket, $"\"room\":\"{room}\",\"message\":\"churn {i}\"", stop).ConfigureAwait(false);
                    await AskAsync(socket, $"\"command\":\"history\",\"room\":\"{room}\",\"limit\":20", stop).ConfigureAwait(false);
                    await AskAsync(socket, $"\"command\":\"leave\",\"room\":\"{room}\"", stop).ConfigureAwait(false);

                    tally.Count("churn cycles");
                }

                await Task.Delay(TimeSpan.FromMilliseconds(200), stop).ConfigureAwait(false);
            }
        }

        // Sends frames back to back, far over the message and frame limits: the server refuses them (rate_limited),
        // then closes the connection (1008 flooding) after Limits:FloodDisconnectAfter refusals in a row.
        private async Task FloodAsync(int user, CancellationToken stop)
        {
            await using var socket = await ConnectAsync(user, false, stop).ConfigureAwait(false);
            var receiving = socket.ReceiveLoopAsync(tally.Listener("flooder lines"), stop);
            var frame = Encoding.UTF8.GetBytes("{\"room\":\"soak-flood\",\"message\":\"flood\"}");
            for (var i = 0; i < 10_000 && !stop.IsCancellationRequested && !receiving.IsCompleted; i++)
            {
                try
                {
                    await socket.SendAsync(frame, stop).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is System.Net.WebSockets.WebSocketException or IOException)
                {
                    break;
                }
            }

            await receiving.WaitAsync(TimeSpan.FromSeconds(10), stop).ConfigureAwait(false);
            tally.Closed(socket);
            tally.Count("flood connections");
        }

        // Joined to the bulk room with a tiny receive buffer, reads nothing for two minutes (the socket
        // buffers take megabytes before the server's outbox of 1,024 items fills), then drains to see whether the
        // server closed it (1008 slow reader) meanwhile.
        private async Task ReadSlowlyAsync(int user, CancellationToken stop)
        {
            await using var socket = await ConnectAsync(user, true, stop).ConfigureAwait(false);
            await Task.Delay(SlowReaderIdle, stop).ConfigureAwait(false);
            using var draining = CancellationTokenSource.CreateLinkedTokenSource(stop);
            draining.CancelAfter(TimeSpan.FromSeconds(20));
            await socket.DrainAsync(draining.Token).ConfigureAwait(false);
            if (socket.CloseStatus is not null)
            {
                tally.Closed(socket);
            }
            else if (!draining.IsCancellationRequested)
            {
                // The server gave up delivering its close frame to a reader this slow and aborted the connection.
                tally.Count("closed:slow reader aborted");
            }
            else
            {
                tally.Count("slow reader still open");
            }
        }

        // Large messages (about 4 KB) into the slow readers' room, 8 a second, and reads them back.
        private async Task SendBulkAsync(int user, CancellationToken stop)
        {
            await using var socket = await ConnectAsync(user, false, stop).ConfigureAwait(false);
            var receiving = socket.ReceiveLoopAsync(tally.Listener("bulk lines"), stop);
            var frame = Encoding.UTF8.GetBytes($"{{\"room\":\"soak-bulk\",\"message\":\"bulk {new string('x', 3900)}\"}}");
            for (var i = 0; i < MaxIterations && !stop.IsCancellationRequested && !receiving.IsCompleted; i++)
            {
                await socket.SendAsync(frame, stop).ConfigureAwait(false);
                tally.Count("bulk sent");
                await Task.Delay(TimeSpan.FromMilliseconds(125), stop).ConfigureAwait(false);
            }

            await receiving.ConfigureAwait(false);
            if (!stop.IsCancellationRequested)
            {
                tally.Closed(socket);
            }
        }

        // Pages back through the busiest room's history, five pages of 50 at a time.
        private async Task PageAsync(int user, CancellationToken stop)
        {
            await using var socket = await ConnectAsync(user, false, stop).ConfigureAwait(false);
            for (var i = 0; i < MaxIterations && !stop.IsCancellationRequested; i++)
            {
                long? before = null;
                for (var page = 0; page < 5; page++)
                {
                    var reply = await AskAsync(socket, $"\"command\":\"history\",\"room\":\"{Room(0)}\",\"limit\":50{(before is { } b ? $",\"before\":{b}" : "")}", stop).ConfigureAwait(false);
                    tally.Count("history pages");
                    var ids = Ids().Matches(reply).Select(m => long.Parse(m.Groups[1].ValueSpan, CultureInfo.InvariantCulture)).ToList();
                    if (ids.Count == 0)
                    {
                        break;
                    }

                    before = ids.Min();
                }

                await Task.Delay(TimeSpan.FromMilliseconds(500), stop).ConfigureAwait(false);
            }
        }

        // Joins a room and leaves it again, every room in turn: presence diffs for everyone in them.
        private async Task HopAsync(int user, CancellationToken stop)
        {
            await using var socket = await ConnectAsync(user, false, stop).ConfigureAwait(false);
            for (var i = 0; i < MaxIterations && !stop.IsCancellationRequested; i++)
            {
                var room = Room((user + i) % TalkRooms);
                await AskAsync(socket, $"\"command\":\"join\",\"room\":\"{room}\"", stop).ConfigureAwait(false);
                tally.Count("joins");
                await Task.Delay(TimeSpan.FromMilliseconds(300), stop).ConfigureAwait(false);
                await AskAsync(socket, $"\"command\":\"leave\",\"room\":\"{room}\"", stop).ConfigureAwait(false);
                tally.Count("leaves");
                await Task.Delay(TimeSpan.FromMilliseconds(300), stop).ConfigureAwait(false);
            }
        }

        // One private message a second to the same recipient, acknowledged.
        private async Task WritePrivatelyAsync(int user, int recipient, CancellationToken stop)
        {
            await using var socket = await ConnectAsync(user, false, stop).ConfigureAwait(false);
            for (var i = 0; i < MaxIterations && !stop.IsCancellationRequested; i++)
            {
                await AskAsync(socket, $"\"to\":\"{User(recipient)}\",\"message\":\"private {i}\"", stop).ConfigureAwait(false);
                tally.Count("private sent");
                await Task.Delay(TimeSpan.FromSeconds(1), stop).ConfigureAwait(false);
            }
        }
    }
}
