using TinyChat.Chat;

namespace TinyChat.Cluster;

/// <summary>
/// The health of a cluster node's bus: its <c>LISTEN</c> connection, judged against the node timeout. A loss
/// shorter than the timeout is reported but healthy (rooms catch up from the store when it is back); a longer one
/// is not, because by then this node has dropped the other nodes' presence as if they were gone.
/// </summary>
public sealed class ClusterBusHealth(PostgresChatBus bus, TimeSpan nodeTimeout, TimeProvider time) : IBusHealth
{
    /// <summary>The kind reported for a PostgreSQL bus.</summary>
    public const string Kind = "postgres";

    /// <inheritdoc />
    public BusHealth Current
    {
        get
        {
            var listener = bus.Listener;
            var (sent, received, dropped) = bus.Counts;
            var counts = new BusCounts(sent, received, dropped);
            if (listener.Listening)
            {
                return new BusHealth(Kind, true, true, null, null, counts);
            }

            var since = listener.Since ?? time.GetUtcNow();
            return new BusHealth(Kind, false, time.GetUtcNow() - since <= nodeTimeout, listener.Problem, since, counts);
        }
    }
}
