using System.Diagnostics;
using TinyChat.Bench.Client;
using TinyChat.Bench.Reporting;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>What every scenario needs: the options, the dialer, the report.</summary>
public sealed class BenchContext(BenchOptions options, Dialer dialer, Report report, long fileLimit)
{
    private readonly Stopwatch clock = Stopwatch.StartNew();
    private readonly Dictionary<string, int> userBlocks = [];
    private int nextUser;

    /// <summary>The command-line options.</summary>
    public BenchOptions Options { get; } = options;

    /// <summary>The bench's open-file limit (the in-process sink holds both ends of every connection).</summary>
    public long FileLimit { get; } = fileLimit;

    /// <summary>Opens client connections from spread source addresses.</summary>
    public Dialer Dialer { get; } = dialer;

    /// <summary>Where measurements go.</summary>
    public Report Report { get; } = report;

    /// <summary>
    /// The first of <paramref name="count"/> users reserved for <paramref name="key"/> (a scenario and shape): each cell has
    /// its own users, the same in every run. TinyChat keeps room memberships and pushes presence for every joined room,
    /// so users shared between cells would drag one cell's rooms into the next.
    /// </summary>
    public int Users(string key, int count)
    {
        lock (userBlocks)
        {
            key = $"{key}/{count}";
            if (!userBlocks.TryGetValue(key, out var first))
            {
                first = nextUser;
                nextUser += count;
                userBlocks[key] = first;
            }

            return first;
        }
    }

    /// <summary>A progress line on stderr (stdout carries the JSON lines and the table).</summary>
    public void Log(string message) => Console.Error.WriteLine($"[{clock.Elapsed:mm\\:ss}] {message}");
}

/// <summary>A scenario: what it measures and against which targets.</summary>
public abstract class Scenario
{
    /// <summary>connect, fanout, latency, durable or slow-reader.</summary>
    public abstract string Name { get; }

    /// <summary>The shapes (cells) the scenario measures; one empty-named shape by default.</summary>
    public virtual IReadOnlyList<string> Shapes(BenchOptions options) => [""];

    /// <summary>Whether the scenario means anything for <paramref name="target"/>.</summary>
    public virtual bool AppliesTo(Target target) => true;

    /// <summary>Whether the scenario's <paramref name="shape"/> can run against <paramref name="target"/>.</summary>
    public virtual bool AppliesTo(Target target, string shape, BenchContext context) => AppliesTo(target);

    /// <summary>
    /// Measures <paramref name="runs"/> times and adds each measurement to the report; bounded in time by
    /// <paramref name="cancellationToken"/> and its own limits. Scenarios whose set-up dominates (a crowd of
    /// thousands joining) measure every run on the same connections, each run with fresh counters.
    /// </summary>
    public abstract Task RunAsync(BenchContext context, Target target, string shape, int runs, CancellationToken cancellationToken);
}

/// <summary>
/// A scenario whose every run opens its own connections: one measurement per run, and the server left to settle
/// (up to 30 s) before the next, so one run's teardown is not measured by the next.
/// </summary>
public abstract class FreshRunsScenario : Scenario
{
    /// <inheritdoc />
    public sealed override async Task RunAsync(BenchContext context, Target target, string shape, int runs, CancellationToken cancellationToken)
    {
        for (var run = 1; run <= runs; run++)
        {
            context.Report.Add(await MeasureAsync(context, target, shape, run, cancellationToken).ConfigureAwait(false));
            await target.SettleAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Measures run number <paramref name="run"/> (from 1) on fresh connections.</summary>
    protected abstract Task<Measurement> MeasureAsync(BenchContext context, Target target, string shape, int run, CancellationToken cancellationToken);
}

/// <summary>CPU used by the server and by the bench over a measurement.</summary>
public sealed class CpuWindow(ProcessSample? server, TimeSpan client, long startedAt, ThreadProfile? threads)
{
    /// <summary>Starts counting.</summary>
    public static CpuWindow Start(Target target) =>
        new(target.Sample(), Environment.CpuUsage.TotalTime, Stopwatch.GetTimestamp(), target.Pid is { } pid ? ThreadProfile.Read(pid) : null);

    /// <summary>Average cores busy since the start: server (NaN for the in-process sink) and the bench process.</summary>
    public (double Server, double Client) Stop(Target target)
    {
        var seconds = Stopwatch.GetElapsedTime(startedAt).TotalSeconds;
        Seconds = seconds;
        var clientCores = (Environment.CpuUsage.TotalTime - client).TotalSeconds / seconds;
        var after = target.Sample();
        ServerThreads = after?.Threads ?? 0;
        ThreadCpu = threads is not null && target.Pid is { } pid ? ThreadProfile.Read(pid).Since(threads) : "";
        var serverCores = server is { } before && after is { } now ? now.CoresSince(before) : double.NaN;
        return (serverCores, clientCores);
    }

    /// <summary>The window's length in seconds (cores × this = CPU seconds), set by <see cref="Stop"/>.</summary>
    public double Seconds { get; private set; }

    /// <summary>The server's thread count when <see cref="Stop"/> was called (thread-pool growth shows blocked threads).</summary>
    public int ServerThreads { get; private set; }

    /// <summary>The server's CPU seconds by thread name over the window, busiest first (empty for the sink).</summary>
    public string ThreadCpu { get; private set; } = "";
}
