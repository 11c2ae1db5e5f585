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
/// <param name="Notifications">What went over the network since start; null for the in-process bus.</param>
public sealed record BusHealth(string Kind, bool Listening, bool Available, string? Problem, DateTimeOffset? Since, BusCounts? Notifications = null)
{
    /// <summary>The bus of a single node, which always hears itself.</summary>
    public static readonly BusHealth InProcess = new("in-process", true, true, null, null);
}

/// <summary>Notifications since the node started.</summary>
/// <param name="Sent">Sent to the other nodes (one per room batch, inline or by reference).</param>
/// <param name="Received">Received from other nodes for a topic with subscribers on this node (the others are dropped unread).</param>
/// <param name="Dropped">Not sent: the queue was full or the database was away too long (rooms catch up from the store).</param>
public sealed record BusCounts(long Sent, long Received, long Dropped);

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
