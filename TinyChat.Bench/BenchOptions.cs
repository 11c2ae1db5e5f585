using System.Globalization;

namespace TinyChat.Bench;

/// <summary>What to run and how long: parsed from the command line (see <see cref="Usage"/>).</summary>
public sealed class BenchOptions
{
    /// <summary>Every scenario, in the order they run.</summary>
    public static readonly string[] AllScenarios = ["connect", "join-storm", "fanout", "latency", "durable", "durable-rooms", "slow-reader", "held", "cluster-fanout", "cluster-latency"];

    /// <summary>
    /// Every target: TinyChat (over its native JSON door, on PostgreSQL, over its Phoenix Channels door), the three
    /// raw peers, the in-process sink that measures the bench itself, and the cluster (PostgreSQL and two TinyChat
    /// nodes) that only the cluster scenarios use.
    /// </summary>
    public static readonly string[] AllTargets = ["tinychat", "tinychat-pg", "phoenix", "kestrel", "httplistener", "node-ws", "sink", "tinychat-cluster"];

    /// <summary>Targets measured only when named in --targets (they answer one question, not the comparison with peers).</summary>
    public static readonly string[] OnRequestTargets = ["tinychat-nometrics", "tinychat-baseline", "tinychat-batch1"];

    /// <summary>Scenarios to run.</summary>
    public List<string> Scenarios { get; private set; } = [.. AllScenarios];

    /// <summary>Targets to run them against.</summary>
    public List<string> Targets { get; private set; } = [.. AllTargets];

    /// <summary>Runs per cell; the table shows the median.</summary>
    public int Runs { get; private set; } = 3;

    /// <summary>Seconds of steady traffic per fanout / durable measurement.</summary>
    public double Seconds { get; private set; } = 4;

    /// <summary>
    /// Seconds of unmeasured fanout traffic before a cell's first measured run, so that every server is measured
    /// after its JIT has compiled the hot path (0 measures the cold start too).
    /// </summary>
    public double WarmupSeconds { get; private set; } = 2;

    /// <summary>Seconds of fixed-rate traffic per latency / slow-reader measurement (after a warm-up second).</summary>
    public double LatencySeconds { get; private set; } = 4;

    /// <summary>Connections opened by the connect scenario.</summary>
    public int Connections { get; private set; } = 10_000;

    /// <summary>Join-storm scenario: connections that each join the one room.</summary>
    public int StormConnections { get; private set; } = 10_000;

    /// <summary>Join-storm scenario: connections connecting and joining at a time (the independent generator's 200).</summary>
    public int StormParallelism { get; private set; } = 200;

    /// <summary>Held scenario: connections opened, joined and held (the latency room's members among them).</summary>
    public int HeldConnections { get; private set; } = 19_000;

    /// <summary>Held scenario: seconds the connections are held while the latency room's traffic is measured.</summary>
    public double HoldSeconds { get; private set; } = 60;

    /// <summary>Fanout shapes: rooms x members, senders in all.</summary>
    public List<FanoutShape> Shapes { get; private set; } =
    [
        new(1, 1000, 10),
        new(10, 100, 10),
        new(10, 1000, 10),
    ];

    /// <summary>Messages each fanout sender may have in flight (sent, own echo not yet received).</summary>
    public int Window { get; private set; } = 16;

    /// <summary>Durable scenario: members of its one room, every one of them sending; one cell per size.</summary>
    public List<int> DurableMembers { get; private set; } = [10, 100];

    /// <summary>Latency scenario: members of its one room.</summary>
    public int LatencyMembers { get; private set; } = 1000;

    /// <summary>Latency scenario: messages per second into the room, over all senders.</summary>
    public int LatencyRate { get; private set; } = 100;

    /// <summary>Slow-reader scenario: members of its one room (the slow reader comes on top).</summary>
    public int SlowMembers { get; private set; } = 30;

    /// <summary>Slow-reader scenario: messages per second into the room.</summary>
    public int SlowRate { get; private set; } = 800;

    /// <summary>Slow-reader scenario: characters of padding per message, so the slow reader's buffers fill quickly.</summary>
    public int SlowPadding { get; private set; } = 3900;

    /// <summary>Cluster fan-out scenario: members of its one room (10 of them send).</summary>
    public int ClusterMembers { get; private set; } = 1000;

    /// <summary>Cluster latency scenario: receivers of its one room (the 10 senders come on top).</summary>
    public int ClusterReceivers { get; private set; } = 100;

    /// <summary>Cluster latency scenario: messages per second into the room, over all senders.</summary>
    public int ClusterRate { get; private set; } = 100;

    /// <summary>
    /// The <c>batch</c> TinyChat's native clients ask for: 2 (chat messages grouped per room, the leanest frames), 1
    /// (newline-joined objects) or 0 (one object per frame). The tinychat-batch1 target always asks for 1.
    /// </summary>
    public int TinyChatBatch { get; private set; } = 2;

    /// <summary>Concurrent connection attempts while setting up.</summary>
    public int ConnectParallelism { get; private set; } = 64;

    /// <summary>Where the raw peers' start script lives (default: ../shared/peers/start.sh from the repository root).</summary>
    public string? PeersScript { get; private set; }

    /// <summary>A checkout with another TinyChat built (tinychat-baseline): a before/after comparison in the same run.</summary>
    public string? BaselineDirectory { get; private set; }

    /// <summary>Extra arguments for the TinyChat server (e.g. <c>--Storage:Provider sqlite</c>).</summary>
    public List<string> TinyChatArgs { get; } = [];

    /// <summary>Folder for the JSON lines, the table and the server logs.</summary>
    public string ResultsDirectory { get; private set; } = "bench-results";

    /// <summary>Help text.</summary>
    public const string Usage = """
        usage: tinychat-bench [all|quick|SCENARIO[,SCENARIO...]] [options]
          all                     every scenario against every target (default)
          quick                   every scenario, 1 run, short durations, smaller shapes (a smoke run of ~4 minutes)
          SCENARIOS               connect, join-storm, fanout, latency, durable, durable-rooms, slow-reader, held,
                                  cluster-fanout, cluster-latency (comma-separated)
        options:
          --targets a,b           tinychat,tinychat-pg,phoenix,kestrel,httplistener,node-ws,sink,tinychat-cluster;
                                  on request only: tinychat-nometrics (TinyChat with Metrics:Enabled false, for the
                                  "metrics on/off" column: what the instruments cost, paired in the same run),
                                  tinychat-baseline (the TinyChat built in --baseline-dir, for the "baseline"
                                  column: this build against that one, before/after in the same run),
                                  tinychat-batch1 (TinyChat whose native clients ask for batch=1: what the
                                  grouped frames of batch=2 change, paired in the same run)
                                  (phoenix = TinyChat over its Phoenix Channels door, fan-out only; sink = the
                                  bench's own ceiling; tinychat-cluster = PostgreSQL and two nodes, for the
                                  cluster-* scenarios only)
          --runs N                runs per cell, median reported (default 3)
          --seconds S             seconds of traffic per fanout/durable measurement (default 4)
          --warmup-seconds S      unmeasured fanout traffic before a cell's first run (default 2; 0 = none)
          --latency-seconds S     seconds of fixed-rate traffic per latency/slow-reader measurement (default 4)
          --connections N         connections of the connect scenario (default 10000)
          --storm-connections N   connections of the join-storm scenario, all into one room (default 10000)
          --storm-parallel N      join-storm connections connecting and joining at a time (default 200)
          --held-connections N    connections of the held scenario, latency room included (default 19000)
          --hold-seconds S        seconds the held scenario holds them under the latency traffic (default 60)
          --shapes RxM/S,...      fanout shapes, e.g. 1x1000/10,10x100/10,10x1000/10
          --window N              in-flight messages per fanout sender (default 16)
          --durable-members N,... members of the durable scenario's one room, all sending (default 10,100)
          --latency-members N     members of the latency room (default 1000)
          --latency-rate N        messages/s into the latency room (default 100)
          --slow-members N        members of the slow-reader room (default 30)
          --slow-rate N           messages/s into the slow-reader room (default 800)
          --slow-padding N        padding characters per slow-reader message (default 3900)
          --cluster-members N     members of the cluster fan-out room (default 1000)
          --cluster-receivers N   receivers of the cluster latency room (default 100)
          --cluster-rate N        messages/s into the cluster latency room (default 100)
          --parallel N            concurrent connection attempts (default 64)
          --peers PATH            the peers' start.sh (default ../shared/peers/start.sh next to the repository)
          --baseline-dir PATH     a checkout of another TinyChat, built in the bench's configuration, that
                                  tinychat-baseline runs (with that checkout's chat.config.json and static/)
          --tinychat-arg ARG      one more argument for the TinyChat server (repeatable)
          --tinychat-batch N      batch=N for TinyChat's native clients: 2 grouped messages (default), 1 lines, 0 none
          --results DIR           output folder (default bench-results)
        """;

    /// <summary>Parses the command line; throws <see cref="ArgumentException"/> with a readable message.</summary>
    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions();
        var index = 0;
        if (args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal))
        {
            options.ApplyMode(args[0]);
            index = 1;
        }

        for (; index < args.Length; index++)
        {
            var name = args[index];
            if (name is "--help" or "-h")
            {
                throw new ArgumentException(Usage);
            }

            if (index + 1 >= args.Length)
            {
                throw new ArgumentException($"{name} needs a value\n{Usage}");
            }

            var value = args[++index];
            switch (name)
            {
                case "--targets":
                    options.Targets = Names(value, [.. AllTargets, .. OnRequestTargets], "target");
                    break;
                case "--runs":
                    options.Runs = Number(name, value, 1, 50);
                    break;
                case "--seconds":
                    options.Seconds = PositiveSeconds(name, value);
                    break;
                case "--warmup-seconds":
                    options.WarmupSeconds = value == "0" ? 0 : PositiveSeconds(name, value);
                    break;
                case "--latency-seconds":
                    options.LatencySeconds = PositiveSeconds(name, value);
                    break;
                case "--connections":
                    options.Connections = Number(name, value, 1, 19_000);
                    break;
                case "--storm-connections":
                    options.StormConnections = Number(name, value, 1, 19_000);
                    break;
                case "--storm-parallel":
                    options.StormParallelism = Number(name, value, 1, 1000);
                    break;
                case "--held-connections":
                    options.HeldConnections = Number(name, value, 1, 19_000);
                    break;
                case "--hold-seconds":
                    options.HoldSeconds = PositiveSeconds(name, value);
                    break;
                case "--shapes":
                    options.Shapes = [.. value.Split(',', StringSplitOptions.RemoveEmptyEntries).Select(FanoutShape.Parse)];
                    break;
                case "--tinychat-batch":
                    options.TinyChatBatch = Number(name, value, 0, 2);
                    break;
                case "--window":
                    options.Window = Number(name, value, 1, 1000);
                    break;
                case "--durable-members":
                    options.DurableMembers = [.. value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Select(m => Number(name, m, 1, 5_000))];
                    break;
                case "--latency-members":
                    options.LatencyMembers = Number(name, value, 2, 19_000);
                    break;
                case "--latency-rate":
                    options.LatencyRate = Number(name, value, 1, 100_000);
                    break;
                case "--slow-members":
                    options.SlowMembers = Number(name, value, 2, 19_000);
                    break;
                case "--slow-rate":
                    options.SlowRate = Number(name, value, 1, 100_000);
                    break;
                case "--slow-padding":
                    options.SlowPadding = Number(name, value, 0, 3900);
                    break;
                case "--cluster-members":
                    options.ClusterMembers = Number(name, value, 20, 9_000);
                    break;
                case "--cluster-receivers":
                    options.ClusterReceivers = Number(name, value, 1, 9_000);
                    break;
                case "--cluster-rate":
                    options.ClusterRate = Number(name, value, 1, 100_000);
                    break;
                case "--parallel":
                    options.ConnectParallelism = Number(name, value, 1, 1000);
                    break;
                case "--peers":
                    options.PeersScript = Path.GetFullPath(value);
                    break;
                case "--baseline-dir":
                    options.BaselineDirectory = Path.GetFullPath(value);
                    break;
                case "--tinychat-arg":
                    options.TinyChatArgs.Add(value);
                    break;
                case "--results":
                    options.ResultsDirectory = value;
                    break;
                default:
                    throw new ArgumentException($"unknown option {name}\n{Usage}");
            }
        }

        if (options.Targets.Contains("tinychat-baseline") != (options.BaselineDirectory is not null))
        {
            throw new ArgumentException("--baseline-dir and the target tinychat-baseline go together: name both or neither");
        }

        return options;
    }

    private void ApplyMode(string mode)
    {
        switch (mode)
        {
            case "all":
                return;
            case "quick":
                Runs = 1;
                Seconds = 2;
                WarmupSeconds = 1;
                LatencySeconds = 2;
                Connections = 2000;
                StormConnections = 2000;
                HeldConnections = 2000;
                HoldSeconds = 5;
                Shapes = [new(1, 200, 10), new(10, 100, 10)];
                LatencyMembers = 200;
                LatencyRate = 100;
                ClusterMembers = 200;
                ClusterReceivers = 50;
                return;
            default:
                Scenarios = Names(mode, AllScenarios, "scenario");
                return;
        }
    }

    private static List<string> Names(string value, string[] known, string what)
    {
        var names = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        foreach (var name in names)
        {
            if (!known.Contains(name))
            {
                throw new ArgumentException($"unknown {what} '{name}' (known: {string.Join(", ", known)})");
            }
        }

        return names;
    }

    private static int Number(string name, string value, int min, int max)
    {
        if (!int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out var number) || number < min || number > max)
        {
            throw new ArgumentException($"{name}: expected a whole number from {min} to {max}, got '{value}'");
        }

        return number;
    }

    private static double PositiveSeconds(string name, string value)
    {
        if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var seconds) || seconds <= 0 || seconds > 600)
        {
            throw new ArgumentException($"{name}: expected seconds in (0, 600], got '{value}'");
        }

        return seconds;
    }
}

/// <summary>A fanout shape: <paramref name="Rooms"/> rooms of <paramref name="Members"/> members, <paramref name="Senders"/> senders spread over the rooms.</summary>
public sealed record FanoutShape(int Rooms, int Members, int Senders)
{
    /// <summary>Connections the shape needs.</summary>
    public int Connections => Rooms * Members;

    /// <summary>Parses <c>RxM/S</c>.</summary>
    public static FanoutShape Parse(string text)
    {
        var parts = text.Split('x', '/');
        if (parts.Length != 3
            || !int.TryParse(parts[0], CultureInfo.InvariantCulture, out var rooms)
            || !int.TryParse(parts[1], CultureInfo.InvariantCulture, out var members)
            || !int.TryParse(parts[2], CultureInfo.InvariantCulture, out var senders)
            || rooms < 1 || members < 2 || senders < rooms || senders > rooms * members || rooms * members > 19_000)
        {
            throw new ArgumentException($"--shapes: expected ROOMSxMEMBERS/SENDERS (senders >= rooms, at most 19000 connections), got '{text}'");
        }

        return new FanoutShape(rooms, members, senders);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Rooms}x{Members}/{Senders}";
}
