using System.Globalization;

namespace TinyChat.Bench.Measuring;

/// <summary>
/// The kernel's TCP segment and IP byte counters (<c>/proc/net/snmp</c>, <c>/proc/net/netstat</c>). They count the
/// whole network namespace and, on loopback, both directions (data one way, acknowledgements and the senders'
/// frames the other), so a delta over a run divided by its deliveries is what a delivery costs on the wire, peers
/// compared on equal terms. Anything else using the network meanwhile adds to it: read it on a quiet machine.
/// </summary>
public readonly record struct NetCounters(long Segments, long Bytes)
{
    /// <summary>The counters now; zeros where the files cannot be read (not Linux).</summary>
    public static NetCounters Read() => new(Field("/proc/net/snmp", "Tcp:", "OutSegs"), Field("/proc/net/netstat", "IpExt:", "OutOctets"));

    /// <summary>What was sent since <paramref name="earlier"/>.</summary>
    public NetCounters Since(NetCounters earlier) => new(Segments - earlier.Segments, Bytes - earlier.Bytes);

    // The files hold pairs of lines: a header of names, then the values, both starting with the same prefix.
    private static long Field(string path, string prefix, string name)
    {
        try
        {
            string[]? header = null;
            foreach (var line in File.ReadLines(path))
            {
                if (!line.StartsWith(prefix, StringComparison.Ordinal))
                {
                    continue;
                }

                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (header is null)
                {
                    header = fields;
                    continue;
                }

                var index = Array.IndexOf(header, name);
                return index > 0 && index < fields.Length ? long.Parse(fields[index], CultureInfo.InvariantCulture) : 0;
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }

        return 0;
    }
}
