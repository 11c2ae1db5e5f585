using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Text;
using TinyChat.Bench.Client;
using TinyChat.Bench.Measuring;

namespace TinyChat.Bench.Soak;

/// <summary>
/// What the soak's clients saw, shared by all of them: counts by kind (errors by their code, closes by reason,
/// activity) and the send-to-receive latency of the current report interval. Thread-safe.
/// </summary>
public sealed class SoakTally
{
    private readonly ConcurrentDictionary<string, long> counts = new(StringComparer.Ordinal);
    private LatencyHistogram latency = new();

    /// <summary>Adds <paramref name="n"/> to the count of <paramref name="kind"/>.</summary>
    public void Count(string kind, long n = 1) => counts.AddOrUpdate(kind, n, (_, old) => old + n);

    /// <summary>The counts so far.</summary>
    public IReadOnlyDictionary<string, long> Snapshot() => new Dictionary<string, long>(counts, StringComparer.Ordinal);

    /// <summary>Records one delivery of a probe stamped at <paramref name="sentAt"/>.</summary>
    public void Delivered(long sentAt, long receivedAt) => Volatile.Read(ref latency).Record(sentAt, receivedAt);

    /// <summary>Starts a new interval; returns the latency of the one that ended.</summary>
    public LatencyHistogram NextInterval() => Interlocked.Exchange(ref latency, new LatencyHistogram());

    /// <summary>Counts an error line by its <c>code</c> (native <c>{"error":..,"code":C}</c>).</summary>
    public void Error(ReadOnlySpan<byte> line)
    {
        var at = line.IndexOf("\"code\":\""u8);
        if (at < 0)
        {
            Count("error:unknown");
            return;
        }

        var rest = line[(at + 8)..];
        var end = rest.IndexOf((byte)'"');
        Count("error:" + Encoding.UTF8.GetString(end < 0 ? rest : rest[..end]));
    }

    /// <summary>Counts how the server closed a connection (its close code and reason).</summary>
    public void Closed(BenchSocket socket) =>
        Count(socket.CloseStatus is null ? "closed:reset" : $"closed:{(int)socket.CloseStatus} {socket.CloseReason}".TrimEnd());

    /// <summary>A receive handler that records probes' latency, counts errors and every other line.</summary>
    public ILineHandler Listener(string kind) => new Listening(this, kind);

    /// <summary>Reads the number after <paramref name="key"/> in a line (<c>"id":</c>); null when absent.</summary>
    public static long? NumberAfter(string line, string key)
    {
        var at = line.IndexOf(key, StringComparison.Ordinal);
        return at >= 0 && Utf8Parser.TryParse(Encoding.ASCII.GetBytes(line[(at + key.Length)..Math.Min(line.Length, at + key.Length + 24)]), out long value, out _) ? value : null;
    }

    private sealed class Listening(SoakTally tally, string kind) : ILineHandler
    {
        public void OnLine(ReadOnlySpan<byte> line, long receivedAt)
        {
            var position = 0;
            var probes = 0;
            while (Probe.TryReadNext(line, ref position, out var reading))
            {
                tally.Delivered(reading.Timestamp, receivedAt);
                tally.Count("received");
                probes++;
            }

            if (probes > 0)
            {
                return;
            }

            if (Probe.IsError(line))
            {
                tally.Error(line);
            }
            else
            {
                tally.Count(kind);
            }
        }
    }
}
