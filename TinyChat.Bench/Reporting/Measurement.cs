using System.Text.Json;

namespace TinyChat.Bench.Reporting;

/// <summary>One measurement: one scenario (and shape) against one target in one run.</summary>
public sealed record Measurement(string Scenario, string Shape, string Target, int Run, IReadOnlyDictionary<string, double> Metrics, string Note)
{
    /// <summary>The measurement as one JSON line (non-finite numbers, such as a stalled latency, become strings).</summary>
    public string ToJsonLine(DateTimeOffset at)
    {
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream))
        {
            w.WriteStartObject();
            w.WriteString("at", at);
            w.WriteString("scenario", Scenario);
            w.WriteString("shape", Shape);
            w.WriteString("target", Target);
            w.WriteNumber("run", Run);
            w.WriteStartObject("metrics");
            foreach (var (name, value) in Metrics)
            {
                if (double.IsFinite(value))
                {
                    w.WriteNumber(name, Math.Round(value, 3));
                }
                else
                {
                    w.WriteString(name, double.IsNaN(value) ? "n/a" : "inf");
                }
            }

            w.WriteEndObject();
            if (Note.Length > 0)
            {
                w.WriteString("note", Note);
            }

            w.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }
}
