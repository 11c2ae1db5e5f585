namespace TinyChat.Chat;

/// <summary>One node's part of a user's presence: since when the user has been online there, with how many connections.</summary>
public sealed record NodePresence(string Node, string User, DateTimeOffset OnlineAt, int Connections)
{
    /// <summary>
    /// The user's presence over all nodes: online since the earliest node, with every node's connections added
    /// up; null when no node has a connection.
    /// </summary>
    public static PresenceEntry? Merge(string user, IEnumerable<NodePresence> entries)
    {
        DateTimeOffset? since = null;
        var connections = 0;
        foreach (var entry in entries)
        {
            if (entry.Connections > 0)
            {
                since = since is { } s && s <= entry.OnlineAt ? s : entry.OnlineAt;
                connections += entry.Connections;
            }
        }

        return since is { } onlineAt ? new PresenceEntry(user, onlineAt, connections) : null;
    }
}

/// <summary>
/// Who is online, as a table keyed by (node, user). This node writes only its own rows; a cluster
/// implementation replicates them to the other nodes (and drops the rows of a node that stopped answering),
/// so reading a user merges every node's row.
/// </summary>
/// <remarks>
/// Rooms decide presence diffs for their members on this node: after each event (join, leave, online, offline,
/// another node's rows changing) a room compares whether the user is online anywhere (this node's endpoint or
/// another node's row) with what it last told its members, and announces only a change. So a user still
/// connected to another node does not flap, and a user with tabs on two nodes is one presence.
/// </remarks>
public interface IPresence
{
    /// <summary>This node's name.</summary>
    string Node { get; }

    /// <summary>Sets this node's row for the user; zero connections removes it.</summary>
    void Track(string user, DateTimeOffset onlineAt, int connections);

    /// <summary>The user's presence merged over all nodes, or null when the user is offline everywhere. Never blocks.</summary>
    PresenceEntry? Find(string user);

    /// <summary>Every node's row for the user.</summary>
    IReadOnlyList<NodePresence> RowsOf(string user);

    /// <summary>
    /// Raised with the users whose rows changed on another node (a replicated change, a node that stopped
    /// answering): the rooms here re-decide their presence. Handlers must not block; any thread.
    /// </summary>
    event Action<IReadOnlyList<string>>? OthersChanged;
}
