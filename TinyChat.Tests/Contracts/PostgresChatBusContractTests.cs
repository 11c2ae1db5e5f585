using TinyChat.Chat;
using TinyChat.Cluster;
using TinyChat.Storage.InMemory;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Contracts;

/// <summary>
/// The bus contract on the PostgreSQL bus, and what a cluster bus adds: two bus instances on one database are two
/// nodes (a shared in-memory store stands in for the message tables they read references from).
/// </summary>
[Category("Postgres")]
public sealed class PostgresChatBusContractTests : ChatBusContract
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
    private readonly List<PostgresChatBus> nodes = [];
    private PostgresServer server = null!;
    private string database = null!;
    private string connectionString = null!;
    private InMemoryStore store = null!;

    [OneTimeSetUp]
    public async Task CreateDatabase()
    {
        server = await PostgresServer.SharedAsync();
        connectionString = await server.CreateDatabaseAsync();
        database = new Npgsql.NpgsqlConnectionStringBuilder(connectionString).Database!;
    }

    [TearDown]
    public async Task StopNodes()
    {
        foreach (var node in nodes)
        {
            await node.DisposeAsync();
        }

        nodes.Clear();
    }

    /// <inheritdoc />
    protected override IChatBus NewBus() => StartNode();

    private PostgresChatBus StartNode()
    {
        store ??= new InMemoryStore();
        var bus = PostgresChatBus.Start(connectionString, store, TimeProvider.System);
        nodes.Add(bus);
        return bus;
    }

    private async Task<(PostgresChatBus A, PostgresChatBus B)> TwoNodesAsync()
    {
        store = new InMemoryStore();
        var a = StartNode();
        var b = StartNode();
        using var timeout = new CancellationTokenSource(Timeout);
        await a.WhenListeningAsync(timeout.Token);
        await b.WhenListeningAsync(timeout.Token);
        return (a, b);
    }

    [Test]
    public async Task Mentions_and_read_positions_cross_to_the_other_nodes_connections_of_the_user()
    {
        var (a, b) = await TwoNodesAsync();
        var bob = new Recorder();
        b.Subscribe(ChatTopic.User("bob"), bob);

        a.Publish(ChatTopic.User("bob"), new ChatBusEvent(new MentionNotice("bob", "lobby", "alice", 12, T0, "hey @bob \"look\"")));
        a.Publish(ChatTopic.User("bob"), new ChatBusEvent(new ReadMarker("bob", "lobby", null, 12, 3, 1)));
        a.Publish(ChatTopic.User("bob"), new ChatBusEvent(new ReadMarker("bob", null, "alice", 40, 0, 0)));

        var events = (await bob.TakeAsync(3)).Select(g => ((ChatBusEvent)g.Message).Event).ToList();
        Assert.That(events[0] is MentionNotice { User: "bob", Room: "lobby", From: "alice", Id: 12, Excerpt: "hey @bob \"look\"" } m && m.Timestamp == T0, Is.True);
        Assert.That(events[1] is ReadMarker { User: "bob", Room: "lobby", With: null, Position: 12, Unread: 3, Mentions: 1 }, Is.True);
        Assert.That(events[2] is ReadMarker { User: "bob", Room: null, With: "alice", Position: 40, Unread: 0 }, Is.True);
    }

    [Test]
    public async Task Every_kind_of_message_crosses_to_the_other_node_in_publish_order()
    {
        var (a, b) = await TwoNodesAsync();
        var lobby = new Recorder();
        var bob = new Recorder();
        var cluster = new Recorder();
        b.Subscribe(ChatTopic.Room("lobby"), lobby);
        b.Subscribe(ChatTopic.User("bob"), bob);
        b.Subscribe(ChatTopic.Presence, cluster);

        a.Publish(ChatTopic.Room("lobby"), new CommittedMessages("lobby", [new RoomMessage("lobby", "alice", "héllo \"you\"", 7, T0.AddTicks(1)), new RoomMessage("lobby", "alice", "two", 8, T0)]));
        a.Publish(ChatTopic.Room("lobby"), new ChatBusEvent(new TypingNotice("alice", "lobby", null)));
        a.Publish(ChatTopic.Room("lobby"), new MembershipChanged("lobby", ["carol"], ["dave"]));
        a.Publish(ChatTopic.User("bob"), new ChatBusEvent(new PrivateMessage("alice", "bob", "psst", 3, T0)));
        a.Publish(ChatTopic.User("bob"), new ChatBusEvent(new TypingNotice("alice", null, "bob")));
        a.Publish(ChatTopic.Presence, new PresenceRows("node-a", "inc", 4, [new NodePresence("node-a", "alice", T0, 2)], Snapshot: true, Final: true));
        a.Publish(ChatTopic.Presence, new NodeHeartbeat("node-a", "inc", 4, Leaving: false));
        a.Publish(ChatTopic.Presence, new PresenceSyncRequest("node-a", "node-b"));

        var room = (await lobby.TakeAsync(3)).Select(g => g.Message).ToList();
        var batch = (CommittedMessages)room[0];
        Assert.That(batch.Messages.Select(m => (m.Room, m.From, m.Text, m.Id, m.Timestamp)), Is.EqualTo(new[] { ("lobby", "alice", "héllo \"you\"", 7L, T0.AddTicks(1)), ("lobby", "alice", "two", 8L, T0) }));
        Assert.That(((TypingNotice)((ChatBusEvent)room[1]).Event) is { User: "alice", Room: "lobby", To: null }, Is.True);
        var membership = (MembershipChanged)room[2];
        Assert.That((membership.Room, membership.Joined.Single(), membership.Left.Single()), Is.EqualTo(("lobby", "carol", "dave")));

        var user = (await bob.TakeAsync(2)).Select(g => ((ChatBusEvent)g.Message).Event).ToList();
        Assert.That(user[0] is PrivateMessage { From: "alice", To: "bob", Text: "psst", Id: 3 } pm && pm.Timestamp == T0, Is.True);
        Assert.That(user[1] is TypingNotice { User: "alice", Room: null, To: "bob" }, Is.True);

        var presence = (await cluster.TakeAsync(3)).Select(g => g.Message).ToList();
        var rows = (PresenceRows)presence[0];
        Assert.That((rows.Node, rows.Incarnation, rows.Version, rows.Snapshot, rows.Final), Is.EqualTo(("node-a", "inc", 4L, true, true)));
        Assert.That(rows.Rows, Is.EqualTo(new[] { new NodePresence("node-a", "alice", T0, 2) }));
        Assert.That(presence[1], Is.EqualTo(new NodeHeartbeat("node-a", "inc", 4, false)));
        Assert.That(presence[2], Is.EqualTo(new PresenceSyncRequest("node-a", "node-b")));
    }

    [Test]
    public async Task A_node_hears_its_own_messages_once_and_the_other_in_order_under_load()
    {
        var (a, b) = await TwoNodesAsync();
        var onA = new Recorder();
        var onB = new Recorder();
        a.Subscribe(ChatTopic.Room("lobby"), onA);
        b.Subscribe(ChatTopic.Room("lobby"), onB);

        for (var n = 0; n < 2000; n++)
        {
            a.Publish(ChatTopic.Room("lobby"), Numbered(n));
        }

        Assert.That((await onB.TakeAsync(2000)).Select(g => NumberOf(g.Message)), Is.EqualTo(Enumerable.Range(0, 2000)));
        Assert.That((await onA.TakeAsync(2000)).Select(g => NumberOf(g.Message)), Is.EqualTo(Enumerable.Range(0, 2000)));

        // A marker from b proves a's listener has seen everything a sent: nothing of it came back to a.
        b.Publish(ChatTopic.Room("lobby"), Numbered(-1));
        Assert.That(NumberOf((await onA.TakeAsync(1))[0].Message), Is.EqualTo(-1));
        Assert.That(onA.TakeNow(), Is.Empty);
    }

    [Test]
    public async Task A_batch_too_large_for_a_notification_goes_by_id_range_and_is_read_back_from_the_store()
    {
        var (a, b) = await TwoNodesAsync();
        var onB = new Recorder();
        b.Subscribe(ChatTopic.Room("lobby"), onB);
        await ((IRoomStore)store).TryCreateAsync("lobby", CancellationToken.None);
        var texts = Enumerable.Range(0, 300).Select(i => $"message {i} " + new string('ü', 40)).ToList();
        var first = await store.AppendRoomMessagesAsync("lobby", [.. texts.Select(t => new NewRoomMessage("alice", t, T0))], CancellationToken.None);
        var batch = new CommittedMessages("lobby", [.. texts.Select((t, i) => new RoomMessage("lobby", "alice", t, first + i, T0))]);
        var before = a.Counts.Sent;

        a.Publish(ChatTopic.Room("lobby"), batch);

        var got = (CommittedMessages)(await onB.TakeAsync(1))[0].Message;
        Assert.That(got.Messages.Select(m => (m.Id, m.Text)), Is.EqualTo(batch.Messages.Select(m => (m.Id, m.Text))));
        // B may read the batch back before A's NOTIFY round trip returns and A counts it.
        Assert.That(() => a.Counts.Sent - before, Is.EqualTo(1).After(10_000, 20), "one notification for the batch");
    }

    [Test]
    public async Task A_private_message_too_large_for_a_notification_is_read_back_by_id()
    {
        var (a, b) = await TwoNodesAsync();
        var bob = new Recorder();
        b.Subscribe(ChatTopic.User("bob"), bob);
        var text = new string('界', 4000);
        var id = await store.AppendPrivateMessageAsync("alice", "bob", text, T0, CancellationToken.None);

        a.Publish(ChatTopic.User("bob"), new ChatBusEvent(new PrivateMessage("alice", "bob", text, id, T0)));

        var got = (PrivateMessage)((ChatBusEvent)(await bob.TakeAsync(1))[0].Message).Event;
        Assert.That((got.Id, got.Text, got.From, got.To), Is.EqualTo((id, text, "alice", "bob")));
    }

    [Test]
    public async Task A_terminated_listen_connection_comes_back_and_says_so_to_every_subscriber()
    {
        var (a, b) = await TwoNodesAsync();
        var lobby = new Recorder();
        var bob = new Recorder();
        b.Subscribe(ChatTopic.Room("lobby"), lobby);
        b.Subscribe(ChatTopic.User("bob"), bob);

        Assert.That(await TerminateListenerAsync(b), Is.EqualTo(1));

        Assert.That((await lobby.TakeAsync(1))[0].Message, Is.SameAs(BusResumed.Instance));
        Assert.That((await bob.TakeAsync(1))[0].Message, Is.SameAs(BusResumed.Instance));
        Assert.That(b.Listening, Is.True);
        a.Publish(ChatTopic.Room("lobby"), Numbered(1));
        Assert.That(NumberOf((await lobby.TakeAsync(1))[0].Message), Is.EqualTo(1));
    }

    private async Task<long> TerminateListenerAsync(PostgresChatBus node)
    {
        await using var connection = new Npgsql.NpgsqlConnection(server.ConnectionString(database) + ";Pooling=false");
        await connection.OpenAsync();
        await using var terminate = new Npgsql.NpgsqlCommand(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) AS t", connection);
        terminate.Parameters.AddWithValue(PostgresChatBus.ListenerApplicationPrefix + node.Origin);
        return (long)(await terminate.ExecuteScalarAsync())!;
    }

    [Test]
    public void Payloads_stay_under_the_notification_limit_whatever_the_message()
    {
        var huge = new CommittedMessages("lobby", [.. Enumerable.Range(1, 512).Select(i => new RoomMessage("lobby", "alice", new string('"', 4000), i, T0))]);
        var crowd = new MembershipChanged("lobby", [.. Enumerable.Range(0, 1000).Select(i => $"user_with_a_long_name_{i:D6}")], []);
        var snapshot = new PresenceRows("node-a", "inc", 1, [.. Enumerable.Range(0, 64).Select(i => new NodePresence("node-a", $"user_with_a_long_name_{i:D6}xxxx", T0, 10))], true, true);

        foreach (var message in new ChatBusMessage[] { huge, crowd, snapshot })
        {
            var payloads = BusWire.Encode("origin", ChatTopic.Room("lobby"), message);
            Assert.That(payloads, Is.Not.Empty);
            Assert.That(payloads.Select(p => System.Text.Encoding.UTF8.GetByteCount(p)), Is.All.LessThanOrEqualTo(BusWire.MaxPayloadBytes));
        }

        Assert.That(BusWire.Encode("origin", ChatTopic.Room("lobby"), crowd).Select(BusWire.Decode).Cast<InlineNotice>().SelectMany(n => ((MembershipChanged)n.Message).Joined), Is.EqualTo(crowd.Joined));
        Assert.That(BusWire.Encode("origin", ChatTopic.Room("lobby"), new ChatBusEvent(new PresenceDiff("lobby", [], []))), Is.Empty, "presence diffs are decided on each node");
        Assert.Throws<FormatException>(() => BusWire.Decode("{\"o\":1}"));
        Assert.Throws<FormatException>(() => BusWire.Decode("not json"));
    }

    [Test]
    public void Room_events_and_removals_cross_the_wire_with_every_field()
    {
        var at = new DateTimeOffset(2026, 12, 1, 9, 0, 0, 123, TimeSpan.Zero);
        var batch = new CommittedMessages("lobby",
        [
            new RoomMessage("lobby", "alice", "hi", 1, at),
            new RoomMessage("lobby", "alice", "", 2, at) { Kind = RoomEventKind.Mute, Target = "bob", Until = at.AddMinutes(5) },
            new RoomMessage("lobby", "alice", "hello", 3, at) { Kind = RoomEventKind.Edit, RefersTo = 1 },
        ]);
        var decoded = (CommittedMessages)((InlineNotice)BusWire.Decode(BusWire.Encode("origin", ChatTopic.Room("lobby"), batch).Single())).Message;
        Assert.That(
            decoded.Messages.Select(m => (m.Id, m.From, m.Text, m.Timestamp, m.Kind, m.Target, m.RefersTo, m.Until)),
            Is.EqualTo(batch.Messages.Select(m => (m.Id, m.From, m.Text, m.Timestamp, m.Kind, m.Target, m.RefersTo, m.Until))));

        var removed = (RemovedFromRoom)((InlineNotice)BusWire.Decode(BusWire.Encode("origin", ChatTopic.User("bob"), new RemovedFromRoom("lobby", "bob")).Single())).Message;
        Assert.That(removed, Is.EqualTo(new RemovedFromRoom("lobby", "bob")));

        // An invitation travels to the invited user's topic (they are no member yet, so no room batch reaches them).
        var invite = new RoomMessage("lobby", "alice", "", 4, at) { Kind = RoomEventKind.Invite, Target = "carol" };
        var invited = (RoomMessage)((ChatBusEvent)((InlineNotice)BusWire.Decode(BusWire.Encode("origin", ChatTopic.User("carol"), new ChatBusEvent(invite)).Single())).Message).Event;
        Assert.That((invited.Room, invited.From, invited.Id, invited.Timestamp, invited.Kind, invited.Target), Is.EqualTo((invite.Room, invite.From, invite.Id, invite.Timestamp, invite.Kind, invite.Target)));
    }
}
