using System.Globalization;
using System.Text;

namespace TinyChat.Bench.Reporting;

/// <summary>
/// Collects measurements, writes each as a JSON line (stdout and a file), and renders the table of medians
/// with the TinyChat/Kestrel, TinyChat/HttpListener and Phoenix/native (TinyChat's two doors) ratios, and on request
/// metrics on/off and baseline (this build against another one).
/// </summary>
public sealed class Report : IDisposable
{
    private static readonly Dictionary<string, Row[]> Rows = new()
    {
        ["connect"] =
        [
            new("connects_per_s", "connections/s", Better.Higher),
            new("rss_kb_per_conn", "server RSS KiB/connection (run 1, fresh server)", Better.Lower, Aggregate.First),
            new("open_ms_avg", "ms to open (TCP+upgrade+auth), avg", Better.Lower),
            new("join_ms_avg", "ms to join, avg", Better.Lower),
            new("failed", "failed connections (max)", Better.Lower, Aggregate.Max),
            new("server_cpu_ms_per_conn", "server CPU ms/connection", Better.Lower),
            new("server_kb_allocated_per_conn", "server KiB allocated/connection, TinyChat", Better.Lower),
            new("gc_collections_per_1000_conns", "server GCs/1,000 connections, TinyChat", Better.Lower),
            new("gc_pause_ms_per_conn", "server GC pause ms/connection, TinyChat", Better.Lower),
            new("store_commits_per_1000_conns", "store commits/1,000 connections, TinyChat", Better.None),
            new("store_ms_per_commit", "ms per store commit, TinyChat", Better.Lower),
            new("server_cpu", "server CPU (cores)", Better.None),
            new("client_cpu", "bench CPU (cores)", Better.None),
        ],
        ["join-storm"] =
        [
            new("joins_per_s", "joins/s (connect + upgrade + join + welcome)", Better.Higher),
            new("view_s", "s until every client's presence view is the server's", Better.Lower),
            new("view_after_last_join_s", "of which after the last join", Better.Lower),
            new("rss_kb_per_conn_at_last_join", "server RSS KiB/connection at the last join", Better.Lower),
            new("presence_kb_per_conn", "presence KiB received per connection", Better.Lower),
            new("failed", "failed connections (max)", Better.Lower, Aggregate.Max),
            new("server_cpu_ms_per_join", "server CPU ms/join", Better.Lower),
            new("server_kb_allocated_per_join", "server KiB allocated/join, TinyChat", Better.Lower),
            new("gc_collections_per_1000_joins", "server GCs/1,000 joins, TinyChat", Better.Lower),
            new("gc_pause_ms_per_join", "server GC pause ms/join, TinyChat", Better.Lower),
            new("store_commits_per_1000_joins", "store commits/1,000 joins, TinyChat", Better.None),
            new("store_ms_per_commit", "ms per store commit, TinyChat", Better.Lower),
            new("server_cpu", "server CPU (cores)", Better.None),
            new("client_cpu", "bench CPU (cores)", Better.None),
        ],
        ["fanout"] =
        [
            new("deliveries_per_s", "deliveries/s", Better.Higher),
            new("integrity", "lost/dup/reordered (max)", Better.Lower, Aggregate.Integrity),
            new("server_cpu_us_per_delivery", "server CPU µs/delivery", Better.Lower),
            new("client_cpu_us_per_delivery", "receiver (bench) CPU µs/delivery", Better.Lower),
            new("segments_per_1000_deliveries", "TCP segments/1,000 deliveries (loopback, both ways)", Better.Lower),
            new("bytes_per_delivery", "IP bytes/delivery (loopback, both ways)", Better.Lower),
            new("member_data_in_per_1000", "of which data segments to members (TCP_INFO)", Better.Lower),
            new("member_acks_out_per_1000", "of which members' ACKs (TCP_INFO)", Better.Lower),
            new("sender_segments_per_1000", "of which senders' segments, both ways (TCP_INFO)", Better.Lower),
            new("deliveries_per_data_segment", "deliveries per data segment to a receiver", Better.Higher),
            new("server_cpu", "server CPU (cores)", Better.None),
            new("client_cpu", "bench CPU (cores)", Better.None),
            new("setup_s", "s to connect and join everyone", Better.Lower),
            new("register_s", "s to register the users first (TinyChat only, not in the row above)", Better.None),
        ],
        ["latency"] =
        [
            new("p50_ms", "p50 ms", Better.Lower),
            new("p99_ms", "p99 ms", Better.Lower),
            new("p999_ms", "p99.9 ms", Better.Lower),
            new("integrity", "lost/dup/reordered (max)", Better.Lower, Aggregate.Integrity),
            new("server_cpu_us_per_delivery", "server CPU µs/delivery", Better.Lower),
            new("client_cpu_us_per_delivery", "receiver (bench) CPU µs/delivery", Better.Lower),
            new("segments_per_1000_deliveries", "TCP segments/1,000 deliveries (loopback, both ways)", Better.Lower),
            new("commit_ms", "ms per store commit (fsync), TinyChat", Better.None),
            new("server_bytes_per_delivery", "server bytes allocated/delivery, TinyChat", Better.Lower),
            new("gc_pause_ms_per_s", "server GC pause ms/s, TinyChat", Better.Lower),
            new("server_cpu", "server CPU (cores)", Better.None),
        ],
        ["durable"] =
        [
            new("acks_per_s", "acknowledged messages/s", Better.Higher),
            new("ack_p50_ms", "ack p50 ms", Better.Lower),
            new("ack_p99_ms", "ack p99 ms", Better.Lower),
            new("integrity", "lost/dup/reordered (max)", Better.Lower, Aggregate.Integrity),
            new("closed_by_server", "members closed as slow readers (max)", Better.Lower, Aggregate.Max),
            new("commits_per_s", "store commits (fsyncs)/s", Better.None),
            new("messages_per_write", "messages per room batch", Better.None),
            new("writes_per_commit", "room batches per commit", Better.None),
            new("commit_ms", "ms per commit", Better.None),
            new("writer_busy", "store writer busy (share of time)", Better.None),
            new("server_bytes_per_ack", "server bytes allocated/message", Better.Lower),
            new("deliveries_per_s", "deliveries/s", Better.None),
            new("server_cpu", "server CPU (cores)", Better.None),
            new("client_cpu", "bench CPU (cores)", Better.None),
        ],
        ["durable-rooms"] =
        [
            new("acks_per_s", "acknowledged messages/s", Better.Higher),
            new("ack_p50_ms", "ack p50 ms", Better.Lower),
            new("ack_p99_ms", "ack p99 ms", Better.Lower),
            new("integrity", "lost/dup/reordered (max)", Better.Lower, Aggregate.Integrity),
            new("server_cpu", "server CPU (cores)", Better.None),
        ],
        ["cluster-fanout"] =
        [
            new("deliveries_per_s", "deliveries/s", Better.Higher),
            new("vs_one_node", "two nodes ÷ one node, same run (target ≥ 0.7)", Better.Higher),
            new("integrity", "lost/dup/reordered (max)", Better.Lower, Aggregate.Integrity),
            new("server_cpu_us_per_delivery", "nodes + PostgreSQL CPU µs/delivery", Better.Lower),
            new("messages_per_s", "messages posted/s", Better.None),
            new("notifications_per_s", "NOTIFY/s (both nodes)", Better.None),
            new("messages_per_notification", "messages per NOTIFY", Better.None),
            new("node_a_cpu", "node A CPU (cores)", Better.None),
            new("node_b_cpu", "node B CPU (cores)", Better.None),
            new("postgres_cpu", "PostgreSQL CPU (cores)", Better.None),
            new("client_cpu", "bench CPU (cores)", Better.None),
            new("setup_s", "s to connect and join everyone", Better.Lower),
        ],
        ["cluster-latency"] =
        [
            new("p50_ms", "p50 ms", Better.Lower),
            new("p99_ms", "p99 ms", Better.Lower),
            new("p999_ms", "p99.9 ms", Better.Lower),
            new("added_p50_ms", "cross-node minus same-node p50 ms, same run", Better.None),
            new("added_p99_ms", "cross-node minus same-node p99 ms, same run", Better.None),
            new("deliveries_per_s", "deliveries/s at the receivers", Better.None),
            new("notifications_per_s", "NOTIFY/s (both nodes)", Better.None),
            new("integrity", "lost/dup/reordered (max)", Better.Lower, Aggregate.Integrity),
            new("node_a_cpu", "node A CPU (cores)", Better.None),
            new("node_b_cpu", "node B CPU (cores)", Better.None),
            new("postgres_cpu", "PostgreSQL CPU (cores)", Better.None),
        ],
        ["held"] =
        [
            new("failed", "failed connections (max)", Better.Lower, Aggregate.Max),
            new("dropped", "connections lost during the hold (max)", Better.Lower, Aggregate.Max),
            new("setup_s", "s to connect and join everyone", Better.Lower),
            new("p50_ms", "p50 ms", Better.Lower),
            new("p99_ms", "p99 ms", Better.Lower),
            new("p999_ms", "p99.9 ms", Better.Lower),
            new("integrity", "lost/dup/reordered (max)", Better.Lower, Aggregate.Integrity),
            new("server_cpu_us_per_delivery", "server CPU µs/delivery", Better.Lower),
            new("client_cpu_us_per_delivery", "receiver (bench) CPU µs/delivery", Better.Lower),
            new("segments_per_1000_deliveries", "TCP segments/1,000 deliveries (loopback, both ways)", Better.Lower),
            new("commit_ms", "ms per store commit (fsync), TinyChat", Better.None),
            new("server_bytes_per_delivery", "server bytes allocated/delivery, TinyChat", Better.Lower),
            new("gc_pause_ms_per_s", "server GC pause ms/s, TinyChat", Better.Lower),
            new("server_cpu", "server CPU (cores)", Better.None),
        ],
        ["slow-reader"] =
        [
            new("p99_without_ms", "others' p99 ms, no slow reader", Better.Lower),
            new("p99_with_ms", "others' p99 ms, with slow reader", Better.Lower),
            new("p99_diff_pct", "difference % (want < 10)", Better.None),
            new("slow_reader_closed", "slow reader closed by server (runs)", Better.None, Aggregate.Sum),
        ],
    };

    private readonly List<Measurement> measurements = [];
    private readonly StreamWriter jsonLines;
    private readonly List<string> targetOrder;

    /// <summary>Opens <c>DIR/bench-TIMESTAMP.jsonl</c>; the table goes next to it as <c>.md</c>.</summary>
    public Report(string directory, IEnumerable<string> targets)
    {
        Directory.CreateDirectory(directory);
        Stamp = DateTimeOffset.Now.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture);
        JsonPath = Path.GetFullPath(Path.Combine(directory, $"bench-{Stamp}.jsonl"));
        TablePath = Path.ChangeExtension(JsonPath, ".md");
        jsonLines = new StreamWriter(JsonPath) { AutoFlush = true };
        targetOrder = [.. targets];
    }

    private enum Better
    {
        Higher,
        Lower,
        None,
    }

    private enum Aggregate
    {
        Median,
        First,
        Max,
        Sum,
        Integrity,
    }

    /// <summary>When the run started, for file names.</summary>
    public string Stamp { get; }

    /// <summary>The JSON lines file.</summary>
    public string JsonPath { get; }

    /// <summary>The table file.</summary>
    public string TablePath { get; }

    /// <summary>Records a measurement and prints its JSON line.</summary>
    public void Add(Measurement measurement)
    {
        measurements.Add(measurement);
        var line = measurement.ToJsonLine(DateTimeOffset.Now);
        Console.Out.WriteLine(line);
        jsonLines.WriteLine(line);
    }

    /// <summary>Records a free-form JSON line (machine, settings) in the file and on stdout.</summary>
    public void AddRaw(string jsonLine)
    {
        Console.Out.WriteLine(jsonLine);
        jsonLines.WriteLine(jsonLine);
    }

    /// <summary>The table of medians as Markdown.</summary>
    public string Table()
    {
        var targets = targetOrder.Where(t => measurements.Any(m => m.Target == t)).ToList();
        var text = new StringBuilder();
        text.Append("| scenario | shape | metric |");
        foreach (var target in targets)
        {
            text.Append(' ').Append(target == "sink" ? "sink (bench ceiling)" : target).Append(" |");
        }

        // The metrics and baseline columns only when their targets ran: each answers one question (what the
        // instruments cost; this build against another one).
        (string Target, string Label)[] onRequest = [("tinychat-nometrics", "metrics on/off"), ("tinychat-baseline", "baseline")];
        var pairs = onRequest.Where(p => targets.Contains(p.Target)).ToList();
        text.Append(" TinyChat/Kestrel | TinyChat/HttpListener | Phoenix/native |");
        text.AppendLine(string.Concat(pairs.Select(p => $" {p.Label} |")));
        text.Append("|---|---|---|");
        text.Append(string.Concat(Enumerable.Repeat("---:|", targets.Count + 3 + pairs.Count)));
        text.AppendLine();

        foreach (var cell in measurements.Select(m => (m.Scenario, m.Shape)).Distinct())
        {
            if (!Rows.TryGetValue(cell.Scenario, out var rows))
            {
                continue;
            }

            foreach (var row in rows)
            {
                var values = targets.ToDictionary(t => t, t => Value(row, cell.Scenario, cell.Shape, t));
                if (values.Values.All(v => v.Text == "–"))
                {
                    continue;
                }

                text.Append($"| {cell.Scenario} | {cell.Shape} | {row.Label}{Arrow(row.Better)} |");
                foreach (var target in targets)
                {
                    text.Append(' ').Append(values[target].Text).Append(" |");
                }

                text.Append(' ').Append(Ratio(row, values, "kestrel")).Append(" |");
                text.Append(' ').Append(Ratio(row, values, "httplistener")).Append(" |");
                text.Append(' ').Append(Ratio(row, values, "tinychat", ours: "phoenix")).Append(" |");
                text.AppendLine(string.Concat(pairs.Select(p => $" {Ratio(row, values, p.Target)} |")));
            }
        }

        return text.ToString();
    }

    /// <summary>Writes the table next to the JSON lines.</summary>
    public void WriteTable(string preamble) => File.WriteAllText(TablePath, preamble + Table());

    private (string Text, double Number) Value(Row row, string scenario, string shape, string target)
    {
        var runs = measurements.Where(m => m.Scenario == scenario && m.Shape == shape && m.Target == target).ToList();
        if (runs.Count == 0)
        {
            return ("–", double.NaN);
        }

        double Get(Measurement m, string name) => m.Metrics.TryGetValue(name, out var v) ? v : double.NaN;
        switch (row.Aggregate)
        {
            case Aggregate.Integrity:
                var lost = runs.Max(m => Get(m, "lost"));
                var duplicated = runs.Max(m => Get(m, "duplicated"));
                var reordered = runs.Max(m => Get(m, "reordered"));
                return double.IsNaN(lost) ? ("–", double.NaN) : ($"{lost:F0}/{duplicated:F0}/{reordered:F0}", lost + duplicated + reordered);
            case Aggregate.First:
                var first = runs.Where(m => m.Run > 0).Select(m => Get(m, row.Metric)).DefaultIfEmpty(double.NaN).First();
                return (Format(first), first);
            case Aggregate.Max:
                var max = runs.Max(m => Get(m, row.Metric));
                return (Format(max), max);
            case Aggregate.Sum:
                var sum = runs.Sum(m => Get(m, row.Metric));
                return double.IsNaN(sum) ? ("–", double.NaN) : ($"{sum:F0}/{runs.Count}", sum);
            default:
                var median = Median(runs.Select(m => Get(m, row.Metric)).Where(v => !double.IsNaN(v)).ToList());
                return (Format(median), median);
        }
    }

    // ours / peer; the last column is TinyChat's Phoenix door against its native protocol, in the same run.
    private static string Ratio(Row row, Dictionary<string, (string Text, double Number)> values, string peer, string ours = "tinychat")
    {
        if (row.Aggregate is not (Aggregate.Median or Aggregate.First) || row.Better == Better.None
            || !values.TryGetValue(ours, out var oursValue) || !values.TryGetValue(peer, out var theirs)
            || !double.IsFinite(oursValue.Number) || !double.IsFinite(theirs.Number) || theirs.Number == 0)
        {
            return "–";
        }

        return (oursValue.Number / theirs.Number).ToString("F2", CultureInfo.InvariantCulture);
    }

    private static string Arrow(Better better) => better switch
    {
        Better.Higher => " ↑",
        Better.Lower => " ↓",
        _ => "",
    };

    /// <summary>The median; infinity counts as larger than everything (a stalled run).</summary>
    public static double Median(List<double> values)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        values.Sort();
        var middle = values.Count / 2;
        return values.Count % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
    }

    private static string Format(double value)
    {
        if (double.IsNaN(value))
        {
            return "–";
        }

        if (double.IsInfinity(value))
        {
            return "stall";
        }

        var magnitude = Math.Abs(value);
        var format = magnitude >= 1000 ? "N0" : magnitude >= 100 ? "F0" : magnitude >= 10 ? "F1" : "F2";
        return value.ToString(format, CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    public void Dispose() => jsonLines.Dispose();

    private sealed record Row(string Metric, string Label, Better Better, Aggregate Aggregate = Aggregate.Median);
}
