using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Growth;

/// <summary>
/// <c>make growth</c>: does memory come back once rooms and users go idle? Starts a server (SQLite, limits off,
/// a short <c>Runtime:IdleRoomSeconds</c>), registers N users who each create, join and post to a room of their
/// own over the HTTP API (every room's loop starts, every user's session starts and ends), waits until the idle
/// rooms have retired, and prints the resident set and the managed heap at each stage; then posts again to a sample
/// of rooms, each of which must answer with the next id. Bounded: every stage has a deadline.
/// </summary>
public static class GrowthRun
{
    private sealed record Options(int Users, int IdleSeconds, int CompactAfter, int Sample, int HoldSeconds, int Parallel);

    /// <summary>Runs the measurement; exit code 0 when memory came back within 20 % and every sampled room worked.</summary>
    public static async Task<int> RunAsync(string[] args, CancellationToken cancellationToken)
    {
        var options = Parse(args);
        var paths = RepositoryPaths.Locate();
        var log = Path.Combine(Path.GetTempPath(), $"tinychat-growth-{DateTime.UtcNow:yyyyMMddHHmmss}.log");
        string[] extra =
        [
            "--Runtime:IdleRoomSeconds", options.IdleSeconds.ToString(CultureInfo.InvariantCulture),
            "--Runtime:CompactAfterRetiring", options.CompactAfter.ToString(CultureInfo.InvariantCulture),
        ];
        Console.WriteLine($"growth: {options.Users} users and {options.Users} rooms, idle {options.IdleSeconds} s, compact after {options.CompactAfter} retirements (0 = never); server log {log}");
        await using var target = await Target.StartTinyChatAsync(paths, extra, log, cancellationToken).ConfigureAwait(false);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = options.Parallel, PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5) })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{target.Port}"),
            Timeout = TimeSpan.FromSeconds(60),
        };
        var pid = target.Pid ?? throw new InvalidOperationException("the server has no process id");
        var stages = new List<(string Stage, Sample Value)>();
        async Task MeasureAsync(string stage)
        {
            var sample = await SampleAsync(http, pid, cancellationToken).ConfigureAwait(false);
            stages.Add((stage, sample));
            Console.WriteLine($"{stage,-28} {sample}");
        }

        await MeasureAsync("started");

        // A small round first, retired like the big one, so the baseline has the code paths warm and jitted.
        var warm = Math.Min(500, options.Users);
        await TouchAsync(http, "w", warm, options.Parallel, cancellationToken).ConfigureAwait(false);
        await WaitForRetirementAsync(http, pid, options, cancellationToken).ConfigureAwait(false);
        await MeasureAsync("baseline (after warm-up)");
        var baseline = stages[^1].Value;

        var started = DateTime.UtcNow;
        var tokens = await TouchAsync(http, "g", options.Users, options.Parallel, cancellationToken).ConfigureAwait(false);
        Console.WriteLine($"touched {options.Users} users and rooms in {(DateTime.UtcNow - started).TotalSeconds:0} s");
        await MeasureAsync("all touched");
        await WaitForRetirementAsync(http, pid, options, cancellationToken).ConfigureAwait(false);
        await MeasureAsync("after the idle time");
        var after = stages[^1].Value;
        if (options.HoldSeconds > 0)
        {
            // Time to look inside the server in this state: dotnet-gcdump collect -p PID (docs/performance.md).
            Console.WriteLine($"holding for {options.HoldSeconds} s: the server's process id is {pid}");
            await Task.Delay(TimeSpan.FromSeconds(options.HoldSeconds), cancellationToken).ConfigureAwait(false);
        }

        // Every sampled room still works: its owner posts again and gets the next id.
        var random = new Random(17);
        var failures = 0;
        var picks = Enumerable.Range(0, options.Sample).Select(_ => random.Next(options.Users)).Distinct().ToList();
        await Parallel.ForEachAsync(picks, new ParallelOptions { MaxDegreeOfParallelism = options.Parallel, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            var id = await PostAsync(http, tokens[i], $"g{i}", "again", ct).ConfigureAwait(false);
            if (id != 2)
            {
                Interlocked.Increment(ref failures);
                Console.WriteLine($"room g{i}: expected id 2, got {id}");
            }
        }).ConfigureAwait(false);
        Console.WriteLine($"sampled {picks.Count} rooms after retirement: {picks.Count - failures} answered with the next id");
        await MeasureAsync("after the sample");

        var rssRatio = (double)after.Resident / baseline.Resident;
        var heapRatio = (double)after.Heap / baseline.Heap;
        Console.WriteLine($"resident after/baseline {rssRatio:0.00}, managed heap after/baseline {heapRatio:0.00} (bound 1.20)");
        return failures == 0 && rssRatio <= 1.2 && heapRatio <= 1.2 ? 0 : 1;
    }

    private static Options Parse(string[] args)
    {
        var users = 100_000;
        var idle = 10;
        var compact = 1000;
        var sample = 1000;
        var hold = 0;
        for (var i = 0; i + 1 < args.Length; i += 2)
        {
            var value = int.Parse(args[i + 1], CultureInfo.InvariantCulture);
            switch (args[i])
            {
                case "--users": users = value; break;
                case "--idle": idle = value; break;
                case "--compact-after": compact = value; break;
                case "--sample": sample = value; break;
                case "--hold": hold = Math.Clamp(value, 0, 3600); break;
                default: throw new ArgumentException($"growth: unknown option {args[i]} (--users N --idle SECONDS --compact-after N --sample N --hold SECONDS)");
            }
        }

        return new Options(users, idle, compact, sample, hold, 32);
    }

    // Each user: register, create a room of its own, join it, post once. Returns each user's token.
    private static async Task<string[]> TouchAsync(HttpClient http, string prefix, int count, int parallel, CancellationToken cancellationToken)
    {
        var tokens = new string[count];
        var done = 0;
        await Parallel.ForEachAsync(Enumerable.Range(0, count), new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            var name = prefix + i.ToString(CultureInfo.InvariantCulture);
            using var registered = await http.PostAsJsonAsync("/api/users", new { username = name }, ct).ConfigureAwait(false);
            await Expect(registered, HttpStatusCode.Created).ConfigureAwait(false);
            var token = (await registered.Content.ReadFromJsonAsync<JsonElement>(ct).ConfigureAwait(false)).GetProperty("access_token").GetString()!;
            tokens[i] = token;
            using (var create = Request(HttpMethod.Post, "/api/rooms", token, new { room = name }))
            using (var created = await http.SendAsync(create, ct).ConfigureAwait(false))
            {
                await Expect(created, HttpStatusCode.Created).ConfigureAwait(false);
            }

            using (var join = Request(HttpMethod.Put, $"/api/rooms/{name}/membership", token, null))
            using (var joined = await http.SendAsync(join, ct).ConfigureAwait(false))
            {
                await Expect(joined, HttpStatusCode.Created).ConfigureAwait(false);
            }

            if (await PostAsync(http, token, name, "hello", ct).ConfigureAwait(false) != 1)
            {
                throw new InvalidOperationException($"room {name}: the first post did not get id 1");
            }

            if (Interlocked.Increment(ref done) % 10_000 == 0)
            {
                Console.WriteLine($"  {done} touched");
            }
        }).ConfigureAwait(false);
        return tokens;
    }

    private static async Task<long> PostAsync(HttpClient http, string token, string room, string text, CancellationToken cancellationToken)
    {
        using var post = Request(HttpMethod.Post, $"/api/rooms/{room}/messages", token, new { message = text });
        using var posted = await http.SendAsync(post, cancellationToken).ConfigureAwait(false);
        await Expect(posted, HttpStatusCode.Created).ConfigureAwait(false);
        return (await posted.Content.ReadFromJsonAsync<JsonElement>(cancellationToken).ConfigureAwait(false)).GetProperty("id").GetInt64();
    }

    private static HttpRequestMessage Request(HttpMethod method, string path, string token, object? body)
    {
        var request = new HttpRequestMessage(method, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        request.Content = body is null ? new ByteArrayContent([]) : JsonContent.Create(body);
        return request;
    }

    private static async Task Expect(HttpResponseMessage response, HttpStatusCode status)
    {
        if (response.StatusCode != status)
        {
            throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri?.AbsolutePath}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync().ConfigureAwait(false)}");
        }
    }

    // Until no room runs and one more sweep has passed (the one that compacts after the wave), bounded.
    private static async Task WaitForRetirementAsync(HttpClient http, int pid, Options options, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds((options.IdleSeconds * 3) + 120);
        while ((await SampleAsync(http, pid, cancellationToken).ConfigureAwait(false)).Rooms > 0)
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("rooms did not retire in time");
            }

            await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
        }

        // The sweep compacts on its next tick after the wave; two more ticks to be sure.
        await Task.Delay(TimeSpan.FromSeconds(Math.Clamp(options.IdleSeconds / 4.0, 1, 60) * 2) + TimeSpan.FromSeconds(1), cancellationToken).ConfigureAwait(false);
    }

    private sealed record Sample(long Resident, long Heap, long Rooms, long Retired)
    {
        public override string ToString() =>
            $"resident {Resident / 1048576.0,7:0.0} MB   managed heap {Heap / 1048576.0,7:0.0} MB   rooms running {Rooms,7}   retired {Retired,7}";
    }

    private static async Task<Sample> SampleAsync(HttpClient http, int pid, CancellationToken cancellationToken)
    {
        // The route may not exist yet and the exporter may answer its first scrapes before the gauges are collected:
        // ask again, a bounded number of times.
        var metrics = "";
        for (var attempt = 0; attempt < 20 && !metrics.Contains("tinychat_memory_heap", StringComparison.Ordinal); attempt++)
        {
            if (attempt > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), cancellationToken).ConfigureAwait(false);
            }

            try
            {
                metrics = await http.GetStringAsync("/metrics", cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException ex) when (ex.StatusCode == System.Net.HttpStatusCode.NotFound)
            {
                // The metrics route is added a moment after the listener opens (MetricsService starts after it).
            }
        }

        var status = await File.ReadAllLinesAsync($"/proc/{pid}/status", cancellationToken).ConfigureAwait(false);
        var rss = long.Parse(status.First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal)).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
        return new Sample(rss, (long)Metric(metrics, "tinychat_memory_heap"), (long)Metric(metrics, "tinychat_rooms"), (long)Metric(metrics, "tinychat_rooms_retired"));
    }

    // The first sample of a metric whose name starts with the given one (units and _total are suffixes).
    private static double Metric(string text, string name)
    {
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith(name, StringComparison.Ordinal) && !line.StartsWith('#'))
            {
                var nameEnd = line.IndexOfAny([' ', '{']);
                var metric = line[..nameEnd];
                if (metric == name || metric.StartsWith(name + "_", StringComparison.Ordinal) && !metric[(name.Length + 1)..].Contains("retired", StringComparison.Ordinal))
                {
                    return double.Parse(line[(line.LastIndexOf(' ') + 1)..], CultureInfo.InvariantCulture);
                }
            }
        }

        throw new InvalidOperationException($"/metrics has no {name}");
    }
}
