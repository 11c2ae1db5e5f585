using TinyChat.Chat;

namespace TinyChat.Tests.Chat;

/// <summary>The presence table keyed by node.</summary>
public sealed class PresenceTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);

    [Test]
    public void This_nodes_rows_are_tracked_by_user_and_removed_at_zero_connections()
    {
        var presence = new InProcessPresence("node-a");
        Assert.That(presence.Find("alice"), Is.Null);

        presence.Track("alice", T0, 1);
        presence.Track("alice", T0, 2);
        Assert.That(presence.Find("alice"), Is.EqualTo(new PresenceEntry("alice", T0, 2)));
        Assert.That(presence.RowsOf("alice"), Is.EqualTo(new[] { new NodePresence("node-a", "alice", T0, 2) }));

        presence.Track("alice", T0, 0);
        Assert.That(presence.Find("alice"), Is.Null);
        Assert.That(presence.RowsOf("alice"), Is.Empty);
    }

    [Test]
    public void A_user_on_several_nodes_is_one_presence_until_the_last_node_lets_go()
    {
        var presence = new InProcessPresence("node-a");
        presence.Track("alice", T0.AddMinutes(1), 1);
        presence.Apply(new NodePresence("node-b", "alice", T0, 2));
        presence.Apply(new NodePresence("node-c", "bob", T0, 1));

        Assert.That(presence.Find("alice"), Is.EqualTo(new PresenceEntry("alice", T0, 3)));
        Assert.That(presence.RowsOf("alice").Select(r => r.Node), Is.EquivalentTo(new[] { "node-a", "node-b" }));

        presence.Track("alice", T0.AddMinutes(1), 0);
        Assert.That(presence.Find("alice"), Is.EqualTo(new PresenceEntry("alice", T0, 2)), "still online on node b");
        presence.Apply(new NodePresence("node-b", "alice", T0, 0));
        Assert.That(presence.Find("alice"), Is.Null);
        Assert.That(presence.Find("bob"), Is.EqualTo(new PresenceEntry("bob", T0, 1)));
    }

    [Test]
    public void An_endpoint_writes_its_connection_count_to_this_nodes_row()
    {
        var presence = new InProcessPresence();
        var endpoint = new UserEndpoint("alice", T0, presence);
        var first = new RecordingOutbox();
        var second = new RecordingOutbox();

        endpoint.Attach(first);
        endpoint.Attach(second);
        Assert.That(presence.Find("alice"), Is.EqualTo(new PresenceEntry("alice", T0, 2)));
        Assert.That(presence.RowsOf("alice").Single().Node, Is.EqualTo(InProcessPresence.SingleNode));

        Assert.That(endpoint.Detach(first), Is.True);
        Assert.That(endpoint.Detach(first), Is.False);
        Assert.That(presence.Find("alice")!.Connections, Is.EqualTo(1));
        endpoint.Detach(second);
        Assert.That(presence.Find("alice"), Is.Null);
    }

    [Test]
    public void Merging_ignores_rows_without_connections()
    {
        Assert.That(NodePresence.Merge("alice", []), Is.Null);
        Assert.That(NodePresence.Merge("alice", [new NodePresence("a", "alice", T0, 0)]), Is.Null);
        Assert.That(
            NodePresence.Merge("alice", [new NodePresence("a", "alice", T0.AddDays(-1), 0), new NodePresence("b", "alice", T0, 4)]),
            Is.EqualTo(new PresenceEntry("alice", T0, 4)));
    }
}
