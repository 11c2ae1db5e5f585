namespace TinyChat.Web;

/// <summary>The <c>Server</c> section: where TinyChat listens and what it serves.</summary>
public sealed class ServerOptions
{
    /// <summary>Host name or address in the listen prefix; <c>localhost</c>, an IP, or <c>*</c> for every address.</summary>
    public string Host { get; set; } = "localhost";

    /// <summary>TCP port; 0 picks a free port (tests).</summary>
    public int Port { get; set; } = 4000;

    /// <summary>Folder of static files, relative to the executable's folder unless absolute.</summary>
    public string StaticRoot { get; set; } = "static";

    /// <summary>Seconds a shutdown may take before remaining connections are cut.</summary>
    public double ShutdownGraceSeconds { get; set; } = 5;

    /// <summary>Largest accepted HTTP request body.</summary>
    public int MaxRequestBodyBytes { get; set; } = 4096;

    /// <summary>
    /// A connection whose request line and headers are not complete this long after it started waiting for them
    /// (opened, or finished its previous request) is closed. Established WebSockets and streams are never affected.
    /// </summary>
    public double RequestHeadersTimeoutSeconds { get; set; } = 10;

    /// <summary>Connections waiting for their request headers, server-wide; past it the oldest waiting ones are closed.</summary>
    public int MaxPendingConnections { get; set; } = 2000;

    /// <summary>Connections waiting for their request headers from one address (trusted proxies excepted); past it that address's oldest are closed.</summary>
    public int MaxPendingConnectionsPerAddress { get; set; } = 256;

    /// <summary>
    /// Reverse proxies (addresses or CIDR ranges) whose <c>X-Forwarded-For</c> names the client, for per-address
    /// limits and logs; from anyone else the header is ignored. Empty: the TCP peer is the client.
    /// </summary>
    public List<string> TrustedProxies { get; set; } = [];
}

/// <summary>The <c>WebSocket</c> section: per-connection limits and liveness.</summary>
public sealed class WebSocketOptions
{
    /// <summary>Interval of the server's WebSocket keep-alive frames; 0 turns them off.</summary>
    public double KeepAliveSeconds { get; set; } = 30;

    /// <summary>A connection that sends nothing for this long is closed.</summary>
    public double IdleTimeoutSeconds { get; set; } = 600;

    /// <summary>Largest inbound WebSocket message (fragments reassembled); larger closes with 1009.</summary>
    public int MaxMessageBytes { get; set; } = 64 * 1024;

    /// <summary>Outbound frames queued per connection before it counts as a slow reader and is closed.</summary>
    public int OutboxCapacity { get; set; } = 1024;

    /// <summary>Size of the per-connection receive buffer; larger messages grow a pooled buffer on demand.</summary>
    public int ReceiveBufferBytes { get; set; } = 1024;
}
