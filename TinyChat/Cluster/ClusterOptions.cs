namespace TinyChat.Cluster;

/// <summary>The <c>Cluster</c> section: how this node names itself and how nodes notice each other (PostgreSQL storage only).</summary>
public sealed class ClusterOptions
{
    /// <summary>The longest node name.</summary>
    public const int MaxNodeNameLength = 64;

    /// <summary>
    /// This node's name in presence rows, <c>/healthz</c>, <c>/api/me</c> and the web client. Default: in a cluster
    /// (<c>Storage:Provider</c> = <c>postgres</c>) the host name and <c>Server:Port</c> (with a random suffix when the
    /// port is 0); on a single server <c>local</c>. Every node of a cluster needs its own.
    /// </summary>
    public string? NodeName { get; set; }

    /// <summary>Seconds between a node's heartbeats on the bus.</summary>
    public double HeartbeatSeconds { get; set; } = 5;

    /// <summary>Seconds without a heartbeat after which the other nodes drop a node and its users leave.</summary>
    public double NodeTimeoutSeconds { get; set; } = 15;

    /// <summary>The name this node goes by: <see cref="NodeName"/> when set, else derived from the host and port.</summary>
    public string ResolveNodeName(int port) =>
        !string.IsNullOrWhiteSpace(NodeName) ? NodeName
        : port == 0 ? $"{Environment.MachineName}:0-{Guid.NewGuid().ToString("N")[..6]}"
        : $"{Environment.MachineName}:{port}";
}
