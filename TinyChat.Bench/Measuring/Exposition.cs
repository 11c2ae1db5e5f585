using System.Globalization;

namespace TinyChat.Bench.Measuring;

/// <summary>Reads values out of a Prometheus text exposition (TinyChat's <c>/metrics</c>).</summary>
public static class Exposition
{
    /// <summary>The sum of every series of <paramref name="name"/> (all label sets); 0 when there is none.</summary>
    public static double Sum(string exposition, string name)
    {
        double total = 0;
        foreach (var line in exposition.Split('\n'))
        {
            if (line.StartsWith(name, StringComparison.Ordinal) && line.Length > name.Length && line[name.Length] is '{' or ' ')
            {
                var value = line[(line.LastIndexOf(' ') + 1)..];
                if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                {
                    total += v;
                }
            }
        }

        return total;
    }
}
