using System.Diagnostics;
using System.Numerics;

namespace TinyChat.Bench.Measuring;

/// <summary>
/// A thread-safe log-linear histogram of latencies in microseconds: exact below 64 µs, then 32 buckets per
/// power of two (about 3 % precision), up to an hour. Receive loops on every thread record into one instance.
/// </summary>
public sealed class LatencyHistogram
{
    private const int Linear = 64;
    private const int PerOctave = 32;
    private readonly long[] counts = new long[Linear + (32 * PerOctave)];
    private long count;

    /// <summary>Samples recorded.</summary>
    public long Count => Interlocked.Read(ref count);

    /// <summary>Records the time from <paramref name="from"/> to <paramref name="to"/> (Stopwatch timestamps).</summary>
    public void Record(long from, long to)
    {
        var micros = (to - from) * 1_000_000 / Stopwatch.Frequency;
        Interlocked.Increment(ref counts[Index(Math.Max(0, micros))]);
        Interlocked.Increment(ref count);
    }

    /// <summary>
    /// The latency at quantile <paramref name="q"/> in milliseconds, counting <paramref name="missing"/> deliveries that never
    /// came as infinitely late (so a stalled server shows as infinity, not as a fast one). NaN without samples.
    /// </summary>
    public double QuantileMilliseconds(double q, long missing = 0)
    {
        var total = Count + Math.Max(0, missing);
        if (total == 0)
        {
            return double.NaN;
        }

        var rank = (long)Math.Ceiling(q * total);
        long seen = 0;
        for (var i = 0; i < counts.Length; i++)
        {
            seen += Interlocked.Read(ref counts[i]);
            if (seen >= rank)
            {
                return UpperBound(i) / 1000.0;
            }
        }

        return double.PositiveInfinity;
    }

    private static int Index(long micros)
    {
        if (micros < Linear)
        {
            return (int)micros;
        }

        var shift = (63 - BitOperations.LeadingZeroCount((ulong)micros)) - 5;
        var index = Linear + ((shift - 1) * PerOctave) + (int)((micros >> shift) - PerOctave);
        return Math.Min(index, Linear + (32 * PerOctave) - 1);
    }

    private static double UpperBound(int index)
    {
        if (index < Linear)
        {
            return index + 1;
        }

        var shift = ((index - Linear) / PerOctave) + 1;
        var mantissa = ((index - Linear) % PerOctave) + PerOctave;
        return (double)((long)(mantissa + 1) << shift);
    }
}
