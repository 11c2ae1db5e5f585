using TinyChat.Bench.Reporting;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>
/// A scenario on the bench's own cluster (<see cref="BenchCluster"/>: PostgreSQL and two TinyChat nodes). Every run
/// measures two layouts of the same traffic, one after the other, in alternating order: everything on node A
/// (<see cref="OneNode"/>) and spread over both nodes (<see cref="TwoNodes"/>). Both run on the same cluster in
/// the same minutes, so their ratio holds on a machine shared with other work even where the absolute figures do not.
/// </summary>
public abstract class ClusterScenario
{
    /// <summary>The target name that selects the cluster scenarios (<c>--targets</c>).</summary>
    public const string TargetName = "tinychat-cluster";

    /// <summary>The report column of the layout with every connection on node A.</summary>
    public const string OneNode = "cluster-one-node";

    /// <summary>The report column of the layout spread over nodes A and B.</summary>
    public const string TwoNodes = "cluster-two-nodes";

    /// <summary>Scenarios that run on the cluster.</summary>
    public static readonly string[] Names = ["cluster-fanout", "cluster-latency"];

    /// <summary>The scenario's name (one of <see cref="Names"/>).</summary>
    public abstract string Name { get; }

    /// <summary>The shape the scenario measures, for the report.</summary>
    public abstract string Shape(BenchOptions options);

    /// <summary>Measures <paramref name="runs"/> times (both layouts each time) and adds the measurements to the report.</summary>
    public abstract Task RunAsync(BenchContext context, BenchCluster cluster, string shape, int runs, CancellationToken cancellationToken);

    /// <summary>
    /// Starts the cluster when a cluster scenario and the <see cref="TargetName"/> target are selected, runs the
    /// selected scenarios on it, and stops it. A cluster that cannot start (no PostgreSQL installed) is skipped with a line.
    /// Returns what was started, for the report; null when nothing was.
    /// </summary>
    public static async Task<string?> RunSelectedAsync(BenchContext context, RepositoryPaths paths, string logPath, CancellationToken cancellationToken)
    {
        ClusterScenario[] all = [new ClusterFanoutScenario(), new ClusterLatencyScenario()];
        var chosen = all.Where(s => context.Options.Scenarios.Contains(s.Name)).ToList();
        if (chosen.Count == 0 || !context.Options.Targets.Contains(TargetName))
        {
            return null;
        }

        context.Log($"starting {TargetName} (PostgreSQL and two TinyChat nodes)");
        BenchCluster cluster;
        try
        {
            cluster = await BenchCluster.StartAsync(paths, context.Options.TinyChatArgs, logPath, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or System.ComponentModel.Win32Exception)
        {
            context.Log($"SKIPPING {TargetName}: {ex.Message}");
            return null;
        }

        await using (cluster.ConfigureAwait(false))
        {
            context.Log($"{TargetName}: node A on 127.0.0.1:{cluster.A.Port} (pid {cluster.A.Pid}), node B on 127.0.0.1:{cluster.B.Port} (pid {cluster.B.Pid}), PostgreSQL pid {cluster.Database.Pid}; {cluster.Note}");
            foreach (var scenario in chosen)
            {
                var shape = scenario.Shape(context.Options);
                context.Log($"{scenario.Name} {shape} -> {TargetName} ({context.Options.Runs} run(s), both layouts each)");
                try
                {
                    await scenario.RunAsync(context, cluster, shape, context.Options.Runs, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
                {
                    context.Log($"FAILED {scenario.Name} {shape} -> {TargetName}: {ex.GetType().Name}: {ex.Message}");
                    context.Report.Add(new Measurement(scenario.Name, shape, TwoNodes, 0, new Dictionary<string, double>(), $"failed: {ex.GetType().Name}: {ex.Message}"));
                }
            }

            return cluster.Note;
        }
    }

    /// <summary>Notifications sent by both nodes over a measurement, per second and per message posted (NaN when unknown).</summary>
    protected static void AddNotifications(Dictionary<string, double> metrics, long before, long after, double seconds, long posted)
    {
        var sent = before < 0 || after < 0 ? double.NaN : after - before;
        metrics["notifications"] = sent;
        metrics["notifications_per_s"] = sent / seconds;
        metrics["messages_per_notification"] = sent > 0 ? posted / sent : double.NaN;
    }

    /// <summary>The CPU of the cluster's processes and of the bench over a measurement, as metrics.</summary>
    protected static void AddCpu(Dictionary<string, double> metrics, (double A, double B, double Postgres, double Bench) cores, double seconds, long deliveries)
    {
        var servers = cores.A + cores.B + cores.Postgres;
        metrics["server_cpu"] = servers;
        metrics["node_a_cpu"] = cores.A;
        metrics["node_b_cpu"] = cores.B;
        metrics["postgres_cpu"] = cores.Postgres;
        metrics["client_cpu"] = cores.Bench;
        metrics["server_cpu_us_per_delivery"] = deliveries == 0 ? double.NaN : servers * seconds * 1e6 / deliveries;
    }
}
