using System.Globalization;

namespace TinyChat.Bench.Soak;

/// <summary>How long the soak runs and how often it reports: <c>tinychat-bench soak [--seconds S] [--interval S]</c>.</summary>
public sealed class SoakOptions
{
    /// <summary>The longest soak accepted: the whole bench stops by itself after 90 minutes.</summary>
    public const int MaxSeconds = 3600;

    /// <summary>Help text.</summary>
    public const string Usage = """
        usage: tinychat-bench soak [--seconds S] [--interval S] [--tinychat-arg ARG]...
          --seconds S      how long the traffic runs (default 600, or the SOAK_SECONDS environment variable; 10..3600)
          --interval S     seconds per report line (default 60; shorter runs: a tenth of the run, at least 2)
          --tinychat-arg   one more server argument, repeatable
        """;

    /// <summary>Seconds of traffic.</summary>
    public int Seconds { get; private set; } = 600;

    /// <summary>Seconds per report line.</summary>
    public int Interval { get; private set; }

    /// <summary>Extra server arguments.</summary>
    public List<string> TinyChatArgs { get; } = [];

    /// <summary>Parses the arguments after <c>soak</c>; <paramref name="environmentSeconds"/> is SOAK_SECONDS.</summary>
    public static SoakOptions Parse(IReadOnlyList<string> args, string? environmentSeconds)
    {
        var options = new SoakOptions();
        if (!string.IsNullOrEmpty(environmentSeconds))
        {
            options.Seconds = Number("SOAK_SECONDS", environmentSeconds, 10, MaxSeconds);
        }

        int? interval = null;
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (i + 1 >= args.Count)
            {
                throw new ArgumentException($"{name} needs a value\n{Usage}");
            }

            var value = args[++i];
            switch (name)
            {
                case "--seconds":
                    options.Seconds = Number(name, value, 10, MaxSeconds);
                    break;
                case "--interval":
                    interval = Number(name, value, 1, MaxSeconds);
                    break;
                case "--tinychat-arg":
                    options.TinyChatArgs.Add(value);
                    break;
                default:
                    throw new ArgumentException($"unknown option {name}\n{Usage}");
            }
        }

        options.Interval = interval ?? (options.Seconds >= 600 ? 60 : Math.Max(2, options.Seconds / 10));
        if (options.Interval > options.Seconds)
        {
            throw new ArgumentException($"--interval ({options.Interval}) is longer than the run ({options.Seconds} s)");
        }

        return options;
    }

    private static int Number(string name, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n >= min && n <= max
            ? n
            : throw new ArgumentException($"{name} must be a whole number from {min} to {max}, not '{value}'");
}
