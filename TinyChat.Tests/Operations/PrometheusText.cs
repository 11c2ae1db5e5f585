using System.Globalization;
using System.Text.RegularExpressions;

namespace TinyChat.Tests.Operations;

/// <summary>One sample of the Prometheus text format: a series (name and labels) and its value.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

/// <summary>
/// A strict reader of the Prometheus text exposition format 0.0.4, standing in for <c>promtool check metrics</c>
/// (Debian's prometheus package is ~100 MB with a service of its own, too much to install for one check). It fails on
/// anything promtool rejects that we could produce: bad names or labels, a sample before its family's TYPE, a family
/// declared twice, a duplicate series, a histogram whose buckets are not cumulative or miss +Inf = _count.
/// </summary>
public static partial class PrometheusText
{
    /// <summary>Parses and validates; throws <see cref="FormatException"/> naming the line.</summary>
    public static IReadOnlyList<PrometheusSample> Parse(string text)
    {
        var samples = new List<PrometheusSample>();
        var types = new Dictionary<string, string>(StringComparer.Ordinal);
        var series = new HashSet<string>(StringComparer.Ordinal);
        var lines = text.Split('\n');
        for (var number = 1; number <= lines.Length; number++)
        {
            var line = lines[number - 1];
            if (line.Length == 0)
            {
                continue;
            }

            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                var parts = line.Split(' ');
                if (parts.Length != 4 || !MetricName().IsMatch(parts[2]) || parts[3] is not ("counter" or "gauge" or "histogram" or "summary" or "untyped"))
                {
                    throw new FormatException($"line {number}: bad TYPE: {line}");
                }

                if (!types.TryAdd(parts[2], parts[3]))
                {
                    throw new FormatException($"line {number}: family {parts[2]} declared twice");
                }

                continue;
            }

            if (line.StartsWith('#'))
            {
                continue;
            }

            var match = Sample().Match(line);
            if (!match.Success)
            {
                throw new FormatException($"line {number}: not a sample: {line}");
            }

            var name = match.Groups["name"].Value;
            var labels = new SortedDictionary<string, string>(StringComparer.Ordinal);
            foreach (Match label in Label().Matches(match.Groups["labels"].Value))
            {
                if (!labels.TryAdd(label.Groups["key"].Value, label.Groups["value"].Value))
                {
                    throw new FormatException($"line {number}: label {label.Groups["key"].Value} twice");
                }
            }

            var family = Family(name, types);
            if (family is null)
            {
                throw new FormatException($"line {number}: sample {name} before its TYPE");
            }

            if (!series.Add(name + string.Join(',', labels.Select(l => $"{l.Key}={l.Value}"))))
            {
                throw new FormatException($"line {number}: duplicate series {name}{{{match.Groups["labels"].Value}}}");
            }

            var value = match.Groups["value"].Value switch
            {
                "+Inf" => double.PositiveInfinity,
                "-Inf" => double.NegativeInfinity,
                "NaN" => double.NaN,
                var v => double.Parse(v, NumberStyles.Float, CultureInfo.InvariantCulture),
            };
            samples.Add(new PrometheusSample(name, labels, value));
        }

        CheckHistograms(samples, types);
        return samples;
    }

    private static string? Family(string name, Dictionary<string, string> types)
    {
        if (types.ContainsKey(name))
        {
            return name;
        }

        foreach (var suffix in new[] { "_bucket", "_count", "_sum", "_total" })
        {
            if (name.EndsWith(suffix, StringComparison.Ordinal) && types.ContainsKey(name[..^suffix.Length]))
            {
                return name[..^suffix.Length];
            }
        }

        return null;
    }

    private static void CheckHistograms(List<PrometheusSample> samples, Dictionary<string, string> types)
    {
        foreach (var (family, _) in types.Where(t => t.Value == "histogram"))
        {
            var byLabels = samples.Where(s => s.Name == family + "_bucket")
                .GroupBy(s => string.Join(',', s.Labels.Where(l => l.Key != "le").Select(l => $"{l.Key}={l.Value}")));
            foreach (var group in byLabels)
            {
                var buckets = group.Select(s => (Le: s.Labels["le"] == "+Inf" ? double.PositiveInfinity : double.Parse(s.Labels["le"], CultureInfo.InvariantCulture), s.Value)).ToList();
                for (var i = 1; i < buckets.Count; i++)
                {
                    if (buckets[i].Le <= buckets[i - 1].Le || buckets[i].Value < buckets[i - 1].Value)
                    {
                        throw new FormatException($"{family}{{{group.Key}}}: buckets not increasing and cumulative");
                    }
                }

                var count = samples.Single(s => s.Name == family + "_count" && string.Join(',', s.Labels.Select(l => $"{l.Key}={l.Value}")) == group.Key);
                if (!double.IsPositiveInfinity(buckets[^1].Le) || buckets[^1].Value != count.Value)
                {
                    throw new FormatException($"{family}{{{group.Key}}}: the +Inf bucket must equal _count");
                }
            }
        }
    }

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*)\})? (?<value>[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?|[-+]Inf|NaN)( -?\d+)?$""")]
    private static partial Regex Sample();

    [GeneratedRegex(@"(?<key>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>([^""\\]|\\.)*)""")]
    private static partial Regex Label();
}
