using Microsoft.Extensions.Logging;

namespace TinyChat.Chat;

/// <summary>
/// Changed rows of one node's presence table, or (<see cref="Snapshot"/>) all of them in parts. Each node numbers
/// its changes (<see cref="Version"/>), so a node that missed one notices the gap and asks for a snapshot.
/// </summary>
public sealed record PresenceRows(string Node, string Incarnation, long Version, IReadOnlyList<NodePresence> Rows, bool Snapshot, bool Final) : ChatBusMessage;

/// <summary>A node is alive (or, with <see cref="Leaving"/>, stopping), at <see cref="Version"/> of its rows.</summary>
public sealed record NodeHeartbeat(string Node, string Incarnation, long Version, bool Leaving) : ChatBusMessage;

/// <summary>Asks <see cref="Target"/> (every node when null) to publish a snapshot of its rows.</summary>
public sealed record PresenceSyncRequest(string Node, string? Target) : ChatBusMessage;

/// <summary>
/// Who is online across the cluster: this node's rows, replicated to the other nodes over the bus, and theirs
/// received the same way. Provider-agnostic: it needs only an <see cref="IChatBus"/> that reaches the other nodes.
/// </summary>
/// <remarks>
/// <para>
/// Each change of this node's rows is published at once as <see cref="PresenceRows"/> with the next version;
/// every <c>heartbeat</c> the node publishes a <see cref="NodeHeartbeat"/> with its current version. A node that
/// receives a version it did not expect (a lost notification, a node it has not heard of) applies what it got and
/// asks that node for a snapshot; so does a node that starts, or whose bus says it lost contact
/// (<see cref="BusResumed"/>). An <see cref="Incarnation"/> is new on every start, so the rows of a node that
/// restarted under the same name are dropped at once: no ghosts.
/// </para>
/// <para>
/// A node not heard from for <c>nodeTimeout</c> (measured on this node's clock, so clocks need not agree) is
/// dropped with its rows; the rooms here are told which users changed (<see cref="OthersChanged"/>) and announce
/// a leave for each one no longer online anywhere. Thread-safe: one short lock over the table.
/// </para>
/// </remarks>
public sealed class ClusterPresence : IPresence, IChatBusSubscriber, IDisposable
{
    private const int SnapshotRows = 64;
    private readonly InProcessPresence table;
    private readonly Dictionary<string, NodePresence> own = new(StringComparer.Ordinal);
    private readonly Dictionary<string, OtherNode> others = new(StringComparer.Ordinal);
    private readonly Lock gate = new();
    private readonly IChatBus bus;
    private readonly TimeProvider time;
    private readonly TimeSpan heartbeat;
    private readonly TimeSpan nodeTimeout;
    private readonly ILogger? logger;
    private IDisposable? subscription;
    private long version;
    private bool duplicateReported;

    /// <summary>A node's presence; call <see cref="Start"/> and run <see cref="RunAsync"/> to join the cluster.</summary>
    public ClusterPresence(string node, IChatBus bus, TimeProvider time, TimeSpan heartbeat, TimeSpan nodeTimeout, ILogger<ClusterPresence>? logger = null)
    {
        Node = node;
        table = new InProcessPresence(node);
        this.bus = bus;
        this.time = time;
        this.heartbeat = heartbeat;
        this.nodeTimeout = nodeTimeout;
        this.logger = logger;
    }

    /// <inheritdoc />
    public event Action<IReadOnlyList<string>>? OthersChanged;

    /// <inheritdoc />
    public string Node { get; }

    /// <summary>This start of the node (a restarted node has a new one).</summary>
    public string Incarnation { get; } = Guid.NewGuid().ToString("N")[..12];

    /// <summary>The other nodes heard from and not dropped.</summary>
    public IReadOnlyList<string> OtherNodes
    {
        get
        {
            lock (gate)
            {
                return [.. others.Keys.Order(StringComparer.Ordinal)];
            }
        }
    }

    /// <summary>Subscribes, says this node is here and asks the others for their rows.</summary>
    public void Start()
    {
        lock (gate)
        {
            subscription ??= bus.Subscribe(ChatTopic.Presence, this);
            bus.Publish(ChatTopic.Presence, new NodeHeartbeat(Node, Incarnation, version, Leaving: false));
            bus.Publish(ChatTopic.Presence, new PresenceSyncRequest(Node, null));
        }
    }

    /// <summary>Heartbeats and drops silent nodes every <c>heartbeat</c> until cancelled.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(heartbeat, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                Tick();
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }

    /// <summary>One heartbeat: says this node is alive, drops the nodes silent for too long, asks again for overdue snapshots.</summary>
    public void Tick()
    {
        List<string>? changed = null;
        lock (gate)
        {
            bus.Publish(ChatTopic.Presence, new NodeHeartbeat(Node, Incarnation, version, Leaving: false));
            var now = time.GetTimestamp();
            foreach (var (name, other) in others.ToList())
            {
                var silent = time.GetElapsedTime(other.LastHeard, now);
                if (silent > nodeTimeout)
                {
                    logger?.LogWarning("Node {Node} silent for {Seconds:F0} s: dropped with its {Users} online users", name, silent.TotalSeconds, other.Rows.Count);
                    Drop(name, ref changed);
                }
                else if (other.SyncAskedAt is { } asked && time.GetElapsedTime(asked, now) >= heartbeat)
                {
                    AskSync(name, other);
                }
            }
        }

        Announce(changed);
    }

    /// <inheritdoc />
    public void Track(string user, DateTimeOffset onlineAt, int connections)
    {
        lock (gate)
        {
            var row = new NodePresence(Node, user, onlineAt, connections);
            table.Set(row);
            if (connections > 0)
            {
                own[user] = row;
            }
            else
            {
                own.Remove(user);
            }

            // Published under the lock so versions go out in order.
            bus.Publish(ChatTopic.Presence, new PresenceRows(Node, Incarnation, ++version, [row], Snapshot: false, Final: false));
        }
    }

    /// <inheritdoc />
    public PresenceEntry? Find(string user) => table.Find(user);

    /// <inheritdoc />
    public IReadOnlyList<NodePresence> RowsOf(string user) => table.RowsOf(user);

    /// <inheritdoc />
    public void Receive(ChatTopic topic, ChatBusMessage message)
    {
        List<string>? changed = null;
        lock (gate)
        {
            switch (message)
            {
                case NodeHeartbeat beat when IsOther(beat.Node, beat.Incarnation):
                    var node = Heard(beat.Node, beat.Incarnation, ref changed);
                    if (beat.Leaving)
                    {
                        Drop(beat.Node, ref changed);
                    }
                    else if (beat.Version != node.Version && node.SyncAskedAt is null)
                    {
                        AskSync(beat.Node, node);
                    }

                    break;
                case PresenceRows rows when IsOther(rows.Node, rows.Incarnation):
                    Apply(rows, Heard(rows.Node, rows.Incarnation, ref changed), ref changed);
                    break;
                case PresenceSyncRequest request when request.Target is null || string.Equals(request.Target, Node, StringComparison.Ordinal):
                    if (!string.Equals(request.Node, Node, StringComparison.Ordinal))
                    {
                        PublishSnapshot();
                    }

                    break;
                case BusResumed:
                    // Changes and heartbeats may have been lost both ways: ask everyone, and say where we are.
                    bus.Publish(ChatTopic.Presence, new NodeHeartbeat(Node, Incarnation, version, Leaving: false));
                    bus.Publish(ChatTopic.Presence, new PresenceSyncRequest(Node, null));
                    break;
            }
        }

        Announce(changed);
    }

    /// <summary>Tells the other nodes this node is leaving (they drop its rows at once) and stops listening.</summary>
    public void Dispose()
    {
        lock (gate)
        {
            if (subscription is null)
            {
                return;
            }

            bus.Publish(ChatTopic.Presence, new NodeHeartbeat(Node, Incarnation, version, Leaving: true));
            subscription.Dispose();
            subscription = null;
        }
    }

    private bool IsOther(string node, string incarnation)
    {
        if (!string.Equals(node, Node, StringComparison.Ordinal))
        {
            return true;
        }

        if (!string.Equals(incarnation, Incarnation, StringComparison.Ordinal) && !duplicateReported)
        {
            duplicateReported = true;
            logger?.LogError("Another node calls itself {Node}: every node needs its own Cluster:NodeName", Node);
        }

        return false;
    }

    private OtherNode Heard(string name, string incarnation, ref List<string>? changed)
    {
        if (others.TryGetValue(name, out var node) && !string.Equals(node.Incarnation, incarnation, StringComparison.Ordinal))
        {
            // The node restarted: whatever its previous run had online is gone.
            Drop(name, ref changed);
            node = null;
        }

        if (node is null)
        {
            node = new OtherNode(incarnation);
            others[name] = node;
            AskSync(name, node);
        }

        node.LastHeard = time.GetTimestamp();
        return node;
    }

    private void Apply(PresenceRows rows, OtherNode node, ref List<string>? changed)
    {
        if (rows.Snapshot)
        {
            if (node.Pending is null || node.PendingVersion != rows.Version)
            {
                node.Pending = [];
                node.PendingVersion = rows.Version;
            }

            node.Pending.AddRange(rows.Rows);
            if (!rows.Final)
            {
                return;
            }

            var next = new Dictionary<string, NodePresence>(StringComparer.Ordinal);
            foreach (var row in node.Pending)
            {
                next[row.User] = row;
            }

            foreach (var user in node.Rows.Keys.Where(u => !next.ContainsKey(u)).ToList())
            {
                SetRow(node, new NodePresence(rows.Node, user, DateTimeOffset.MinValue, 0), ref changed);
            }

            foreach (var row in next.Values)
            {
                SetRow(node, row, ref changed);
            }

            node.Version = rows.Version;
            node.Pending = null;
            node.SyncAskedAt = null;
            return;
        }

        if (node.Version >= 0 && rows.Version <= node.Version)
        {
            return;
        }

        foreach (var row in rows.Rows)
        {
            SetRow(node, row, ref changed);
        }

        if (node.Version >= 0 && rows.Version == node.Version + 1)
        {
            node.Version = rows.Version;
        }
        else if (node.SyncAskedAt is null)
        {
            AskSync(rows.Node, node);
        }
    }

    private void SetRow(OtherNode node, NodePresence row, ref List<string>? changed)
    {
        var had = node.Rows.TryGetValue(row.User, out var before);
        if (row.Connections > 0)
        {
            if (had && before == row)
            {
                return;
            }

            node.Rows[row.User] = row;
        }
        else if (!node.Rows.Remove(row.User))
        {
            return;
        }

        table.Set(row);
        (changed ??= []).Add(row.User);
    }

    private void Drop(string name, ref List<string>? changed)
    {
        if (!others.Remove(name, out var node))
        {
            return;
        }

        foreach (var row in node.Rows.Values)
        {
            table.Set(row with { Connections = 0 });
            (changed ??= []).Add(row.User);
        }
    }

    private void AskSync(string name, OtherNode node)
    {
        node.SyncAskedAt = time.GetTimestamp();
        bus.Publish(ChatTopic.Presence, new PresenceSyncRequest(Node, name));
    }

    private void PublishSnapshot()
    {
        var rows = own.Values.ToList();
        var parts = Math.Max(1, (rows.Count + SnapshotRows - 1) / SnapshotRows);
        for (var part = 0; part < parts; part++)
        {
            var slice = rows.Skip(part * SnapshotRows).Take(SnapshotRows).ToList();
            bus.Publish(ChatTopic.Presence, new PresenceRows(Node, Incarnation, version, slice, Snapshot: true, Final: part == parts - 1));
        }
    }

    private void Announce(List<string>? changed)
    {
        if (changed is not null)
        {
            OthersChanged?.Invoke([.. changed.Distinct(StringComparer.Ordinal)]);
        }
    }

    private sealed class OtherNode(string incarnation)
    {
        public string Incarnation { get; } = incarnation;

        // -1 until a snapshot says where the node's rows stand.
        public long Version { get; set; } = -1;

        public long LastHeard { get; set; }

        public long? SyncAskedAt { get; set; }

        public Dictionary<string, NodePresence> Rows { get; } = new(StringComparer.Ordinal);

        public List<NodePresence>? Pending { get; set; }

        public long PendingVersion { get; set; }
    }
}
