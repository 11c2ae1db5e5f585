namespace TinyChat.Bench.Soak;

/// <summary>One report line's readings of the server.</summary>
/// <param name="AtMinutes">Minutes since the traffic started, at the end of the interval.</param>
/// <param name="RssMiB">Resident memory.</param>
/// <param name="GcHeapMiB">The GC heap after the last collection, all generations (from <c>/metrics</c>).</param>
/// <param name="Descriptors">Open file descriptors (sockets, files).</param>
/// <param name="GcPauseMs">Time the GC paused the server during the interval.</param>
/// <param name="P99Ms">99th percentile of send-to-receive latency during the interval.</param>
public sealed record SoakSample(double AtMinutes, double RssMiB, double GcHeapMiB, double Descriptors, double GcPauseMs, double P99Ms);

/// <summary>
/// The trend over the last minutes of a soak: least-squares slopes per minute, and whether each stays within its
/// threshold ("flat"). Memory and descriptor thresholds are absolute, well above the noise of a 2-core machine
/// running other work yet far below a leak (a leak of 20 KiB a second is 1.2 MiB a minute); latency's is relative,
/// because a busy machine moves p99 by tens of milliseconds from one minute to the next.
/// </summary>
public sealed record SoakTrend(double Minutes, int Samples, double RssMiBPerMinute, double GcHeapMiBPerMinute, double DescriptorsPerMinute, double P99MsPerMinute, double MedianP99Ms)
{
    /// <summary>Resident memory may grow by at most this much per minute.</summary>
    public const double RssLimit = 2.0;

    /// <summary>The GC heap may grow by at most this much per minute.</summary>
    public const double GcHeapLimit = 1.0;

    /// <summary>Open descriptors may grow by at most this many per minute.</summary>
    public const double DescriptorsLimit = 2.0;

    /// <summary>p99 latency may grow per minute by at most this share of its median over the window ...</summary>
    public const double P99Share = 0.10;

    /// <summary>... and by at least this many milliseconds.</summary>
    public const double P99Floor = 5.0;

    /// <summary>How much p99 latency may grow per minute.</summary>
    public double P99Limit => Math.Max(P99Floor, P99Share * (double.IsNaN(MedianP99Ms) ? 0 : MedianP99Ms));

    /// <summary>Whether every slope is within its threshold.</summary>
    public bool Flat => RssMiBPerMinute <= RssLimit && GcHeapMiBPerMinute <= GcHeapLimit && DescriptorsPerMinute <= DescriptorsLimit && P99MsPerMinute <= P99Limit;

    /// <summary>The trend of the samples in the last <paramref name="minutes"/> (at least the last two samples).</summary>
    public static SoakTrend Of(IReadOnlyList<SoakSample> samples, double minutes)
    {
        // Samples are taken a little after each interval's end; half an interval of slack keeps the first one in.
        var end = samples[^1].AtMinutes;
        var slack = samples.Count > 1 ? (end - samples[0].AtMinutes) / (samples.Count - 1) / 2 : 0;
        var window = samples.Where(s => s.AtMinutes >= end - minutes - slack).ToList();
        if (window.Count < 2)
        {
            window = [.. samples.TakeLast(2)];
        }

        return new SoakTrend(
            window[^1].AtMinutes - window[0].AtMinutes,
            window.Count,
            Slope(window, s => s.RssMiB),
            Slope(window, s => s.GcHeapMiB),
            Slope(window, s => s.Descriptors),
            Slope(window.Where(s => !double.IsNaN(s.P99Ms)).ToList(), s => s.P99Ms),
            Median(window.Select(s => s.P99Ms).Where(v => !double.IsNaN(v)).ToList()));
    }

    private static double Median(List<double> values)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }

        values.Sort();
        return values.Count % 2 == 1 ? values[values.Count / 2] : (values[(values.Count / 2) - 1] + values[values.Count / 2]) / 2;
    }

    /// <summary>The least-squares slope of <paramref name="value"/> against time, per minute (0 with fewer than two points).</summary>
    public static double Slope(IReadOnlyList<SoakSample> points, Func<SoakSample, double> value)
    {
        if (points.Count < 2)
        {
            return 0;
        }

        var meanX = points.Average(p => p.AtMinutes);
        var meanY = points.Average(value);
        var num = points.Sum(p => (p.AtMinutes - meanX) * (value(p) - meanY));
        var den = points.Sum(p => (p.AtMinutes - meanX) * (p.AtMinutes - meanX));
        return den == 0 ? 0 : num / den;
    }
}
