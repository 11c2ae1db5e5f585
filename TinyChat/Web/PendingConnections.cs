using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Runtime;

namespace TinyChat.Web;

/// <summary>What one sweep of the waiting connections closed.</summary>
/// <param name="Waiting">Connections waiting for request headers before the sweep.</param>
/// <param name="TimedOut">Closed for not sending their headers within <c>Server:RequestHeadersTimeoutSeconds</c>.</param>
/// <param name="OverAddressShare">Closed, oldest first, because their address had more than its share waiting.</param>
/// <param name="OverCap">Closed, oldest first, because more than <c>Server:MaxPendingConnections</c> were waiting.</param>
public readonly record struct PendingSweep(int Waiting, int TimedOut, int OverAddressShare, int OverCap);

/// <summary>
/// The slowloris defence in front of <see cref="HttpListener"/>: connections that have not delivered a complete
/// request (headers) are timed from when they started waiting and counted, per address and in all; a sweep closes
/// those that waited too long and, past the caps, the oldest waiting ones. A connection serving a request (a
/// WebSocket, an event stream, a long poll) is not waiting and is never touched. One sweeper, one thread at a time.
/// </summary>
public sealed class PendingConnections(IOptions<ServerOptions> options, ClientAddresses addresses, TimeProvider time, ILogger<PendingConnections> logger)
{
    private readonly Dictionary<object, Wait> waits = new(ReferenceEqualityComparer.Instance);

    /// <summary>How often the server sweeps: a quarter of the timeout, between 50 ms and 1 s.</summary>
    public TimeSpan Period => TimeSpan.FromMilliseconds(Math.Clamp(options.Value.RequestHeadersTimeoutSeconds * 1000 / 4, 50, 1000));

    /// <summary>Closes what must go among <paramref name="waiting"/> (what the listener holds now) and remembers when each started waiting.</summary>
    public PendingSweep Sweep(IReadOnlyList<WaitingConnection> waiting)
    {
        var settings = options.Value;
        var now = time.GetTimestamp();
        var timeout = TimeSpan.FromSeconds(settings.RequestHeadersTimeoutSeconds);
        var current = new List<(WaitingConnection Connection, long Since, IPAddress? Address)>(waiting.Count);
        var still = new HashSet<object>(ReferenceEqualityComparer.Instance);
        foreach (var connection in waiting)
        {
            // A connection that carried a request since the last sweep starts a new wait.
            if (!waits.TryGetValue(connection.Connection, out var wait) || wait.Request != connection.Request)
            {
                wait = new Wait(connection.Request, now);
                waits[connection.Connection] = wait;
            }

            still.Add(connection.Connection);
            current.Add((connection, wait.Since, Peer(connection.Socket)));
        }

        foreach (var gone in waits.Keys.Where(k => !still.Contains(k)).ToList())
        {
            waits.Remove(gone);
        }

        var timedOut = 0;
        var alive = new List<(WaitingConnection Connection, long Since, IPAddress? Address)>(current.Count);
        foreach (var entry in current)
        {
            if (time.GetElapsedTime(entry.Since, now) >= timeout)
            {
                Close(entry.Connection);
                timedOut++;
            }
            else
            {
                alive.Add(entry);
            }
        }

        // Oldest first, so a cap drops those that have waited longest and a newcomer gets its chance.
        alive.Sort((a, b) => a.Since.CompareTo(b.Since));
        var overShare = 0;
        var kept = new List<(WaitingConnection Connection, long Since, IPAddress? Address)>(alive.Count);
        foreach (var group in alive.GroupBy(e => e.Address))
        {
            var members = group.ToList();
            var excess = group.Key is { } address && !addresses.IsTrusted(address) ? members.Count - settings.MaxPendingConnectionsPerAddress : 0;
            for (var i = 0; i < members.Count; i++)
            {
                if (i < excess)
                {
                    Close(members[i].Connection);
                    overShare++;
                }
                else
                {
                    kept.Add(members[i]);
                }
            }
        }

        kept.Sort((a, b) => a.Since.CompareTo(b.Since));
        var overCap = Math.Max(0, kept.Count - settings.MaxPendingConnections);
        for (var i = 0; i < overCap; i++)
        {
            Close(kept[i].Connection);
        }

        var sweep = new PendingSweep(waiting.Count, timedOut, overShare, overCap);
        Report(sweep);
        return sweep;
    }

    private void Close(WaitingConnection connection)
    {
        waits.Remove(connection.Connection);
        try
        {
            // The listener sees a client that went away: its pending read fails and it forgets the connection.
            connection.Socket.Close();
        }
        catch (ObjectDisposedException)
        {
        }
    }

    private static IPAddress? Peer(Socket socket) =>
        PeerEndPoint(socket) is { Address: var address } ? (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address) : null;

    /// <summary>The peer of a waiting connection, or null once the client or the listener has closed it (never throws).</summary>
    public static IPEndPoint? PeerEndPoint(Socket socket)
    {
        try
        {
            return socket.RemoteEndPoint as IPEndPoint;
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
            return null;
        }
    }

    private void Report(PendingSweep sweep)
    {
        if (sweep.TimedOut > 0)
        {
            ChatMetrics.Disconnects.Add(sweep.TimedOut, ChatMetrics.Reason("header_timeout"));
            logger.LogInformation("Closed {Count} connections that sent no complete request headers within {Timeout} s", sweep.TimedOut, options.Value.RequestHeadersTimeoutSeconds);
        }

        if (sweep.OverAddressShare + sweep.OverCap > 0)
        {
            ChatMetrics.Disconnects.Add(sweep.OverAddressShare + sweep.OverCap, ChatMetrics.Reason("pending_cap"));
            logger.LogWarning(
                "Closed {Count} waiting connections over the caps ({OverShare} over Server:MaxPendingConnectionsPerAddress, {OverCap} over Server:MaxPendingConnections; {Waiting} were waiting)",
                sweep.OverAddressShare + sweep.OverCap,
                sweep.OverAddressShare,
                sweep.OverCap,
                sweep.Waiting);
        }
    }

    private readonly record struct Wait(int Request, long Since);
}
