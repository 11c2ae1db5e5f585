using System.Collections.Concurrent;

namespace TinyChat.Chat;

/// <summary>The presence table held in this process: this node's rows, and any other node's rows handed to <see cref="Apply"/>.</summary>
public sealed class InProcessPresence(string node) : IPresence
{
    /// <summary>The node name of a server that is not part of a cluster.</summary>
    public const string SingleNode = "local";

    // user -> that user's rows, one per node (copy-on-write: a user is on a handful of nodes at most).
    private readonly ConcurrentDictionary<string, NodePresence[]> rows = new(StringComparer.Ordinal);
    private readonly object gate = new();

    /// <summary>A table for a server that is not part of a cluster.</summary>
    public InProcessPresence()
        : this(SingleNode)
    {
    }

    /// <inheritdoc />
    public string Node { get; } = node;

    /// <inheritdoc />
    public event Action<IReadOnlyList<string>>? OthersChanged;

    /// <inheritdoc />
    public void Track(string user, DateTimeOffset onlineAt, int connections) => Apply(new NodePresence(Node, user, onlineAt, connections));

    /// <summary>Sets one node's row (zero connections removes it): how replicated rows of other nodes arrive.</summary>
    public void Apply(NodePresence row)
    {
        Set(row);
        if (!string.Equals(row.Node, Node, StringComparison.Ordinal))
        {
            OthersChanged?.Invoke([row.User]);
        }
    }

    /// <summary>Sets one node's row without telling anyone (the caller announces changes itself).</summary>
    internal void Set(NodePresence row)
    {
        lock (gate)
        {
            var current = rows.TryGetValue(row.User, out var found) ? found : [];
            var others = Array.FindAll(current, r => !string.Equals(r.Node, row.Node, StringComparison.Ordinal));
            NodePresence[] next = row.Connections > 0 ? [.. others, row] : others;
            if (next.Length == 0)
            {
                rows.TryRemove(row.User, out _);
            }
            else
            {
                rows[row.User] = next;
            }
        }
    }

    /// <inheritdoc />
    public PresenceEntry? Find(string user) => rows.TryGetValue(user, out var found) ? NodePresence.Merge(user, found) : null;

    /// <inheritdoc />
    public IReadOnlyList<NodePresence> RowsOf(string user) => rows.TryGetValue(user, out var found) ? found : [];
}
