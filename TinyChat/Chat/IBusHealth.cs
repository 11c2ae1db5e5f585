namespace TinyChat.Chat;

/// <summary>What the bus between nodes reports about itself: whether this node hears the other nodes now.</summary>
/// <param name="Kind"><c>in-process</c> (one node: nothing to hear) or <c>postgres</c> (<c>LISTEN</c>/<c>NOTIFY</c>).</param>
/// <param name="Listening">True while this node receives the other nodes' events.</param>
/// <param name="Available">
/// False once the node has not been listening for longer than the cluster's node timeout: by then the other nodes'
/// presence has expired here and this node's view of the cluster is wrong, so a load balancer should send new
/// clients elsewhere. A shorter loss is healed by the rooms' catch-up and does not make the node unhealthy.
/// </param>
/// <param name="Problem">Why it is not listening; null while listening.</param>
/// <param name="Since">When it stopped listening (or started trying, before the first success); null while listening.</param>
public sealed record BusHealth(string Kind, bool Listening, bool Available, string? Problem, DateTimeOffset? Since)
{
    /// <summary>The bus of a single node, which always hears itself.</summary>
    public static readonly BusHealth InProcess = new("in-process", true, true, null, null);
}

/// <summary>The bus's health, for <c>/healthz</c>; reading it never touches the network.</summary>
public interface IBusHealth
{
    /// <summary>The state now.</summary>
    BusHealth Current { get; }
}

/// <summary>The health of a single node's in-process bus: always listening.</summary>
public sealed class InProcessBusHealth : IBusHealth
{
    /// <inheritdoc />
    public BusHealth Current => BusHealth.InProcess;
}
