using System.Globalization;

namespace TinyChat.Bench.Targets;

/// <summary>A reading of a server process from /proc: resident memory, CPU time used so far, threads.</summary>
public readonly record struct ProcessSample(long RssKilobytes, double CpuSeconds, int Threads, long TakenAt)
{
    // Linux reports utime/stime in clock ticks of USER_HZ, which is 100 on every Linux ABI .NET runs on.
    private const double TicksPerSecond = 100;

    /// <summary>Reads /proc/PID/status and /proc/PID/stat; null when the process is gone.</summary>
    public static ProcessSample? Read(int pid)
    {
        try
        {
            long rss = 0;
            var threads = 0;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    rss = long.Parse(line["VmRSS:".Length..].Trim().Split(' ')[0], CultureInfo.InvariantCulture);
                }
                else if (line.StartsWith("Threads:", StringComparison.Ordinal))
                {
                    threads = int.Parse(line["Threads:".Length..].Trim(), CultureInfo.InvariantCulture);
                }
            }

            // Fields after the command name (which may hold spaces) start at ')'; utime and stime are fields 14 and 15.
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
            return new ProcessSample(rss, ticks / TicksPerSecond, threads, System.Diagnostics.Stopwatch.GetTimestamp());
        }
        catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>Cores busy on average between <paramref name="earlier"/> and this sample.</summary>
    public double CoresSince(ProcessSample earlier)
    {
        var seconds = System.Diagnostics.Stopwatch.GetElapsedTime(earlier.TakenAt, TakenAt).TotalSeconds;
        return seconds <= 0 ? 0 : (CpuSeconds - earlier.CpuSeconds) / seconds;
    }
}
