using System.Globalization;

namespace TinyChat.Bench.Targets;

/// <summary>
/// CPU seconds per thread name of a process, from /proc/PID/task/*/stat: shows where a server spends its time
/// (thread-pool workers, the background GC, the socket engine, a timer...) without any tool in the server.
/// </summary>
public sealed class ThreadProfile
{
    private const double TicksPerSecond = 100;
    private readonly Dictionary<int, (string Name, double Seconds)> threads;

    private ThreadProfile(Dictionary<int, (string Name, double Seconds)> threads) => this.threads = threads;

    /// <summary>Reads every thread of <paramref name="pid"/>; empty when the process is gone.</summary>
    public static ThreadProfile Read(int pid)
    {
        var threads = new Dictionary<int, (string, double)>();
        try
        {
            foreach (var dir in Directory.EnumerateDirectories($"/proc/{pid}/task"))
            {
                try
                {
                    var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                    var open = stat.IndexOf('(');
                    var close = stat.LastIndexOf(')');
                    var name = stat[(open + 1)..close];
                    var fields = stat[(close + 2)..].Split(' ');
                    var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
                    threads[int.Parse(Path.GetFileName(dir), CultureInfo.InvariantCulture)] = (name, ticks / TicksPerSecond);
                }
                catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException or ArgumentOutOfRangeException)
                {
                    // The thread ended while being read.
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }

        return new ThreadProfile(threads);
    }

    /// <summary>CPU seconds per thread name used since <paramref name="earlier"/>, busiest first, as "name 1.23s (n)".</summary>
    public string Since(ThreadProfile earlier, int top = 5)
    {
        var byName = new Dictionary<string, (double Seconds, int Count)>();
        foreach (var (id, (name, seconds)) in threads)
        {
            var before = earlier.threads.TryGetValue(id, out var old) ? old.Seconds : 0;
            var group = Normalize(name);
            var current = byName.GetValueOrDefault(group);
            byName[group] = (current.Seconds + seconds - before, current.Count + 1);
        }

        return string.Join(", ", byName
            .Where(kv => kv.Value.Seconds > 0)
            .OrderByDescending(kv => kv.Value.Seconds)
            .Take(top)
            .Select(kv => $"{kv.Key} {kv.Value.Seconds.ToString("F2", CultureInfo.InvariantCulture)}s ({kv.Value.Count})"));
    }

    // Thread names carry numbers (".NET TP Worker", "dotnet-worker-3"); group them by the name without digits.
    private static string Normalize(string name) => new string([.. name.Where(c => !char.IsDigit(c))]).Trim();
}
