using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Options;

namespace TinyChat.Web;

/// <summary>
/// Which address a request comes from, for per-address limits and logs. The peer of the TCP connection, unless that
/// peer is one of <c>Server:TrustedProxies</c>: then <c>X-Forwarded-For</c> is read from the right, skipping trusted
/// proxies, and the first address that is not one is the client. A header from anyone else is ignored, so a client
/// cannot pick its own address to dodge a limit.
/// </summary>
public sealed class ClientAddresses
{
    private readonly IPNetwork[] trusted;

    /// <summary>Reads <c>Server:TrustedProxies</c> (validated at start: addresses or CIDR ranges).</summary>
    public ClientAddresses(IOptions<ServerOptions> options)
    {
        trusted = [.. options.Value.TrustedProxies.Select(p => TryParse(p) ?? throw new ArgumentException($"Server:TrustedProxies: '{p}' is not an address or a CIDR range"))];
    }

    /// <summary>An address (<c>10.0.0.1</c>, <c>::1</c>) or a range (<c>10.0.0.0/8</c>) as a network; null when it is neither.</summary>
    public static IPNetwork? TryParse(string text)
    {
        if (IPNetwork.TryParse(text, out var network))
        {
            return network;
        }

        return IPAddress.TryParse(text, out var address)
            ? new IPNetwork(Normal(address), address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128)
            : null;
    }

    /// <summary>The client's address (null when unknown).</summary>
    public IPAddress? Of(HttpListenerRequest request) => Resolve(request.RemoteEndPoint?.Address, request.Headers["X-Forwarded-For"]);

    /// <summary>The client behind <paramref name="peer"/>, given the request's <c>X-Forwarded-For</c> header.</summary>
    public IPAddress? Resolve(IPAddress? peer, string? forwardedFor)
    {
        if (peer is null || !IsTrusted(peer) || string.IsNullOrWhiteSpace(forwardedFor))
        {
            return peer is null ? null : Normal(peer);
        }

        var hops = forwardedFor.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        var client = Normal(peer);
        for (var i = hops.Length - 1; i >= 0; i--)
        {
            if (!IPAddress.TryParse(hops[i], out var hop))
            {
                // Garbage in the chain: the last trusted hop vouches for nothing further left.
                return client;
            }

            client = Normal(hop);
            if (!IsTrusted(client))
            {
                return client;
            }
        }

        return client;
    }

    /// <summary>Whether <paramref name="address"/> is one of <c>Server:TrustedProxies</c>.</summary>
    public bool IsTrusted(IPAddress address)
    {
        var normal = Normal(address);
        foreach (var network in trusted)
        {
            if (network.Contains(normal))
            {
                return true;
            }
        }

        return false;
    }

    private static IPAddress Normal(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
}
