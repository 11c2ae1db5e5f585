using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace TinyChat.Web;

/// <summary>
/// HTTP policy every front door applies before it opens a long-lived connection (WebSocket, event stream,
/// long-poll session): the browser origin must be the server's own or allowed, and one address may open only so
/// many connections per minute. Decided here once, so no protocol re-implements it. Never blocks.
/// </summary>
public sealed class ConnectionGate(ClientAddressLimits addressLimits, ClientAddresses addresses, IOptions<LimitsOptions> options, ILogger<ConnectionGate> logger)
{
    /// <summary>Null when the request may open a connection, else why not.</summary>
    public HttpRefusal? Check(HttpListenerRequest request)
    {
        if (!OriginAllowed(request))
        {
            logger.LogWarning("Refused connection from origin {Origin}", request.Headers["Origin"]);
            return new HttpRefusal(403, "origin_not_allowed", "this origin may not open chat connections");
        }

        if (!addressLimits.TryConnect(addresses.Of(request)))
        {
            logger.LogDebug("Refused connection from {Address}: too many new connections", addresses.Of(request));
            return new HttpRefusal(429, "rate_limited", "too many new connections from your address; try again later");
        }

        return null;
    }

    private bool OriginAllowed(HttpListenerRequest request)
    {
        // Browsers always send Origin on WebSocket upgrades and cross-origin requests; other clients (bots, bridges) need none.
        var origin = request.Headers["Origin"];
        if (string.IsNullOrEmpty(origin))
        {
            return true;
        }

        if (!Uri.TryCreate(origin, UriKind.Absolute, out var originUri))
        {
            return false;
        }

        var host = request.Headers["Host"];
        if (host is not null && string.Equals(originUri.Authority, host, StringComparison.OrdinalIgnoreCase) && originUri.Scheme is "http" or "https")
        {
            return true;
        }

        return options.Value.AllowedOrigins.Any(allowed => string.Equals(allowed.TrimEnd('/'), origin.TrimEnd('/'), StringComparison.OrdinalIgnoreCase));
    }
}
