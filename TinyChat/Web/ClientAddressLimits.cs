using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Options;
using TinyChat.Runtime;

namespace TinyChat.Web;

/// <summary>Per-address rate limits on registrations and new connections; buckets idle for 10 minutes are forgotten.</summary>
public sealed class ClientAddressLimits(IOptions<LimitsOptions> options, TimeProvider time)
{
    private static readonly TimeSpan IdleBucket = TimeSpan.FromMinutes(10);
    private readonly ConcurrentDictionary<IPAddress, TokenBucket> registrations = new();
    private readonly ConcurrentDictionary<IPAddress, TokenBucket> connections = new();

    /// <summary>Takes a registration token for the address; false when it registers too often.</summary>
    public bool TryRegister(IPAddress? address) => Take(registrations, address, options.Value.RegistrationsPerMinutePerAddress);

    /// <summary>Takes a connection token for the address; false when it connects too often.</summary>
    public bool TryConnect(IPAddress? address) => Take(connections, address, options.Value.ConnectionsPerMinutePerAddress);

    /// <summary>Forgets idle buckets so the tables stay bounded.</summary>
    public void Prune()
    {
        var now = time.GetTimestamp();
        foreach (var table in new[] { registrations, connections })
        {
            foreach (var (address, bucket) in table)
            {
                if (time.GetElapsedTime(bucket.LastUsed, now) > IdleBucket)
                {
                    table.TryRemove(new KeyValuePair<IPAddress, TokenBucket>(address, bucket));
                }
            }
        }
    }

    private bool Take(ConcurrentDictionary<IPAddress, TokenBucket> table, IPAddress? address, double perMinute)
    {
        if (perMinute <= 0 || address is null)
        {
            return true;
        }

        // A burst of one minute's allowance, refilled continuously.
        var bucket = table.GetOrAdd(address, _ => new TokenBucket(perMinute / 60, Math.Max(1, perMinute), time));
        return bucket.TryTake();
    }
}
