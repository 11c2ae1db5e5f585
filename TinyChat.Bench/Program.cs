using System.Runtime.InteropServices;
using System.Text.Json;
using TinyChat.Bench;
using TinyChat.Bench.Client;
using TinyChat.Bench.Reporting;
using TinyChat.Bench.Scenarios;
using TinyChat.Bench.Targets;

if (args is ["growth", .. var growthArgs])
{
    using var growthStop = new CancellationTokenSource(TimeSpan.FromMinutes(30));
    return await TinyChat.Bench.Growth.GrowthRun.RunAsync(growthArgs, growthStop.Token);
}

if (args.Length > 0 && args[0] == "soak")
{
    // A mode of its own: one server under mixed traffic for minutes, reported per interval (docs/performance.md).
    using var soakStop = new CancellationTokenSource(TimeSpan.FromMinutes(90));
    Console.CancelKeyPress += (_, e) =>
    {
        e.Cancel = true;
        soakStop.Cancel();
    };
    return await TinyChat.Bench.Soak.SoakRun.RunAsync(args[1..], soakStop.Token);
}

BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}

// The whole bench stops by itself: a generous bound over the longest expected run.
using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(90));
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

var fileLimit = FileLimit.RaiseToHard();
var paths = RepositoryPaths.Locate();
var resultsDirectory = Path.IsPathRooted(options.ResultsDirectory) ? options.ResultsDirectory : Path.Combine(paths.Root, options.ResultsDirectory);
// The cluster target reports two columns: everything on one node, and spread over two nodes.
using var report = new Report(resultsDirectory, options.Targets.SelectMany(t => t == ClusterScenario.TargetName ? [ClusterScenario.OneNode, ClusterScenario.TwoNodes] : new[] { t }));
using var dialer = new Dialer();
var context = new BenchContext(options, dialer, report, fileLimit);

var machine = new Dictionary<string, object>
{
    ["kind"] = "machine",
    ["cores"] = Environment.ProcessorCount,
    ["memory_gb"] = Math.Round(GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / 1e9, 1),
    ["os"] = RuntimeInformation.OSDescription,
    ["runtime"] = RuntimeInformation.FrameworkDescription,
    ["cpu"] = CpuModel(),
    ["open_files_limit"] = fileLimit,
    ["configuration"] = paths.Configuration,
    ["runs"] = options.Runs,
    ["seconds"] = options.Seconds,
    ["latency_seconds"] = options.LatencySeconds,
    ["window"] = options.Window,
    ["scenarios"] = string.Join(",", options.Scenarios),
};
report.AddRaw(JsonSerializer.Serialize(machine));
context.Log($"TinyChat bench: {string.Join(", ", options.Scenarios)} x {string.Join(", ", options.Targets)}, {options.Runs} run(s); open-file limit {fileLimit}; results in {report.JsonPath}");

var targets = new List<Target>();
try
{
    foreach (var name in options.Targets.Where(t => t != ClusterScenario.TargetName))
    {
        var log = Path.Combine(resultsDirectory, "logs", $"{report.Stamp}-{name}.log");
        try
        {
            context.Log($"starting {name}");
            var target = name switch
            {
                "tinychat" or "phoenix" => await Target.StartTinyChatAsync(paths, options.TinyChatArgs, log, stop.Token, name),
                Target.PostgresName => await Target.StartTinyChatOnPostgresAsync(paths, options.TinyChatArgs, log, stop.Token),
                Target.MetricsOffName => await Target.StartTinyChatAsync(paths, [.. options.TinyChatArgs, "--Metrics:Enabled", "false"], log, stop.Token, name),
                Target.LinesName => await Target.StartTinyChatAsync(paths, options.TinyChatArgs, log, stop.Token, name),
                Target.BaselineName => await Target.StartTinyChatAsync(paths with { Root = options.BaselineDirectory! }, options.TinyChatArgs, log, stop.Token, name),
                "sink" => Target.StartSink(),
                _ => await Target.StartPeerAsync(name, options.PeersScript ?? paths.PeersScript, log, stop.Token),
            };
            target.Batch = name == Target.LinesName ? 1 : options.TinyChatBatch;
            targets.Add(target);
            context.Log($"{name} listening on 127.0.0.1:{target.Port}{(target.Pid is { } pid ? $" (pid {pid})" : "")} {target.Note}");
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
        {
            context.Log($"SKIPPING {name}: {ex.Message}");
        }
    }

    // Every target measures a cell in turn (the order rotating from cell to cell), all runs of a cell on the same
    // connections where set-up dominates: targets measured side by side suffer the same machine.
    Scenario[] scenarios = [new ConnectScenario(), new JoinStormScenario(), new FanoutScenario(), new LatencyScenario(), new DurableScenario("durable", 1, 10, sizedByOptions: true), new DurableScenario("durable-rooms", 32, 2), new SlowReaderScenario(), new HeldScenario()];
    var cell = 0;
    foreach (var scenario in scenarios.Where(s => options.Scenarios.Contains(s.Name)))
    {
        foreach (var shape in scenario.Shapes(options))
        {
            var shift = cell++ % Math.Max(1, targets.Count);
            foreach (var target in targets.Skip(shift).Concat(targets.Take(shift)).Where(t => scenario.AppliesTo(t, shape, context) && (t.Name != Target.PostgresName || scenario.Name.StartsWith("durable", StringComparison.Ordinal))))
            {
                if (stop.IsCancellationRequested)
                {
                    break;
                }

                context.Log($"{scenario.Name} {shape} -> {target.Name} ({options.Runs} run(s))");
                try
                {
                    await scenario.RunAsync(context, target, shape, options.Runs, stop.Token);
                }
                catch (Exception ex) when (!stop.IsCancellationRequested)
                {
                    context.Log($"FAILED {scenario.Name} {shape} -> {target.Name}: {ex.GetType().Name}: {ex.Message}");
                    report.Add(new Measurement(scenario.Name, shape, target.Name, 0, new Dictionary<string, double>(), $"failed: {ex.GetType().Name}: {ex.Message}"));
                }

                await target.SettleAsync(TimeSpan.FromSeconds(30), CancellationToken.None);
            }
        }
    }
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    context.Log("stopped (time limit or Ctrl+C): reporting what was measured");
}
finally
{
    foreach (var target in targets)
    {
        await target.DisposeAsync();
    }
}

// The cluster scenarios come last, on a cluster of their own (PostgreSQL and two nodes), once the other targets are
// stopped: they would only take memory meanwhile.
string? clusterNote = null;
try
{
    clusterNote = await ClusterScenario.RunSelectedAsync(context, paths, Path.Combine(resultsDirectory, "logs", $"{report.Stamp}-{ClusterScenario.TargetName}.log"), stop.Token);
}
catch (OperationCanceledException) when (stop.IsCancellationRequested)
{
    context.Log("stopped (time limit or Ctrl+C): reporting what was measured");
}

var preamble = $"""
    TinyChat bench {report.Stamp}: {machine["cores"]} cores, {machine["memory_gb"]} GB, {machine["cpu"]}, {machine["os"]}, {machine["runtime"]}.
    Median of {options.Runs} run(s) per cell; {options.Seconds} s per fanout/durable measurement, {options.LatencySeconds} s (+1 s warm-up) per latency/slow-reader one.
    Ratios are TinyChat / peer (> 1 is better for ↑ rows, worse for ↓ rows). sink = the bench against a trivial in-process server: its own ceiling.
    TinyChat: {targets.FirstOrDefault(t => t.IsTinyChat)?.Note ?? "not run"}.
    {(targets.FirstOrDefault(t => t.Name == Target.BaselineName) is { } baseline ? $"tinychat-baseline: the build in {options.BaselineDirectory}, {baseline.Note}; baseline = tinychat / tinychat-baseline.\n" : "")}
    {(clusterNote is null ? "" : $"Cluster: {clusterNote}; cluster-one-node = every connection on node A, cluster-two-nodes = spread over A and B (fan-out) or receivers on B (latency), measured alternately in each run.\n")}

    """;
report.WriteTable(preamble);
Console.Out.WriteLine();
Console.Out.Write(preamble);
Console.Out.Write(report.Table());
Console.Out.WriteLine();
Console.Out.WriteLine($"JSON lines: {report.JsonPath}");
Console.Out.WriteLine($"table:      {report.TablePath}");
return 0;

static string CpuModel()
{
    try
    {
        var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
        return line is null ? "unknown CPU" : line[(line.IndexOf(':') + 1)..].Trim();
    }
    catch (IOException)
    {
        return "unknown CPU";
    }
}
