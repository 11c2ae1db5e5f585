using TinyChat.Chat;
using TinyChat.Storage.InMemory;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Chat;

/// <summary>
/// Two chat cores sharing one store and one in-process bus: two nodes of a cluster without sockets or SQL. The
/// bus calls the publishing node's subscribers synchronously and the other node's through their mailboxes, as a
/// cluster bus does.
/// </summary>
public sealed class TwoNodeCoreTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private InMemoryStore store = null!;
    private InProcessChatBus bus = null!;
    private ManualClock clock = null!;
    private ClusterPresence presenceA = null!;
    private ClusterPresence presenceB = null!;
    private ChatCore a = null!;
    private ChatCore b = null!;

    [SetUp]
    public async Task StartNodes()
    {
        store = new InMemoryStore();
        bus = new InProcessChatBus();
        clock = new ManualClock();
        presenceA = new ClusterPresence("a", bus, clock, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15));
        presenceB = new ClusterPresence("b", bus, clock, TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(15));
        presenceA.Start();
        presenceB.Start();
        foreach (var user in new[] { "alice", "bob", "carol" })
        {
            await store.UpsertAsync(user, user + "_token", CancellationToken.None);
        }

        a = await ChatCore.StartNodeAsync(store, bus, presenceA);
        b = await ChatCore.StartNodeAsync(store, bus, presenceB);
    }

    [TearDown]
    public async Task StopNodes()
    {
        await a.DisposeAsync();
        await b.DisposeAsync();
    }

    private static async Task<(ChatClient Client, RecordingOutbox Outbox)> InLobbyAsync(ChatCore node, string user)
    {
        var (client, outbox) = await node.ConnectAsync(user);
        var joined = await client.JoinAsync("lobby", CancellationToken.None);
        Assert.That(joined.Error is null || joined.Error.Code == "already_joined", Is.True, joined.Error?.Message);
        return (client, outbox);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var timeout = new CancellationTokenSource(Timeout);
        while (!condition())
        {
            await Task.Delay(10, timeout.Token);
        }
    }

    private static async Task<List<long>> MessagesAsync(RecordingOutbox outbox, int count)
    {
        var ids = new List<long>();
        while (ids.Count < count)
        {
            ids.Add((await outbox.NextAsync<RoomMessage>()).Id);
        }

        return ids;
    }

    [Test]
    public async Task Posts_from_both_nodes_reach_every_member_once_in_id_order()
    {
        Assert.That(await ((IRoomStore)store).TryCreateAsync("lobby", CancellationToken.None), Is.True);
        var (alice, aliceBox) = await InLobbyAsync(a, "alice");
        var (bob, bobBox) = await InLobbyAsync(b, "bob");

        var posts = Enumerable.Range(0, 40).Select(i => (i % 2 == 0 ? alice : bob).SendToRoomAsync("lobby", $"m{i}", CancellationToken.None)).ToList();
        var ids = (await Task.WhenAll(posts).WaitAsync(Timeout)).Select(o => o.Value).ToList();

        Assert.That(ids.Order(), Is.EqualTo(Enumerable.Range(1, 40).Select(i => (long)i)));
        Assert.That(await MessagesAsync(aliceBox, 40), Is.EqualTo(Enumerable.Range(1, 40).Select(i => (long)i)));
        Assert.That(await MessagesAsync(bobBox, 40), Is.EqualTo(Enumerable.Range(1, 40).Select(i => (long)i)));
        await alice.SendToRoomAsync("lobby", "last", CancellationToken.None);
        Assert.That((await bobBox.NextAsync<RoomMessage>()).Id, Is.EqualTo(41), "nothing delivered twice on the way");
    }

    [Test]
    public async Task Joining_on_one_node_then_posting_from_the_other_works_at_once()
    {
        Assert.That(await ((IRoomStore)store).TryCreateAsync("lobby", CancellationToken.None), Is.True);
        var (_, aliceBox) = await InLobbyAsync(a, "alice");
        var (bobOnB, _) = await b.ConnectAsync("bob");
        Assert.That((await bobOnB.WhoAsync("lobby", CancellationToken.None)).Error!.Code, Is.EqualTo("not_a_member"), "b's lobby is running");

        var (bobOnA, _) = await a.ConnectAsync("bob");
        Assert.That((await bobOnA.JoinAsync("lobby", CancellationToken.None)).Error, Is.Null);
        var posted = await bobOnB.SendToRoomAsync("lobby", "hi from b", CancellationToken.None);

        Assert.That(posted.Error, Is.Null);
        Assert.That((await aliceBox.NextAsync<RoomMessage>()).Text, Is.EqualTo("hi from b"));
    }

    [Test]
    public async Task A_user_with_a_tab_on_each_node_is_one_presence_and_closing_one_does_not_flap()
    {
        Assert.That(await ((IRoomStore)store).TryCreateAsync("lobby", CancellationToken.None), Is.True);
        var (alice, aliceBox) = await InLobbyAsync(a, "alice");
        var (bobOnA, _) = await InLobbyAsync(a, "bob");
        var bobOnB = await b.ConnectAsync("bob");

        var state = (await alice.WhoAsync("lobby", CancellationToken.None)).Value!;
        Assert.That(state.Online.Single(e => e.User == "bob").Connections, Is.EqualTo(2), "one entry, connections added up");

        // a's lobby is held with a question queued, so it answers after bob's tab on a has closed but before bob's
        // session there has told it (the session lets go of the connection first): bob is still online on b.
        var lobbyOnA = a.Server.Rooms.TryFindLive("lobby")!;
        var bobSessionOnA = a.Server.Sessions.Live.Single(s => s.User == "bob");
        var holder = new LoopHolder();
        using (bus.Subscribe(ChatTopic.Room("lobby"), holder))
        {
            holder.Arm();
            var holding = alice.SendToRoomAsync("lobby", "hold on", CancellationToken.None);
            await holder.Entered.WaitAsync(Timeout);
            var asked = alice.WhoAsync("lobby", CancellationToken.None);
            await WaitUntilAsync(() => lobbyOnA.MailboxDepth >= 1);
            await bobOnA.DisposeAsync();
            await WaitUntilAsync(() => a.Server.Sessions.FindOnline("bob") is null);
            holder.Release();

            state = (await asked.WaitAsync(Timeout)).Value!;
            Assert.That(state.Online.SingleOrDefault(e => e.User == "bob")?.Connections, Is.EqualTo(1), "still online on b before the room heard");
            Assert.That((await holding.WaitAsync(Timeout)).Error, Is.Null);
        }

        // The session told the room before it ended; a question after that is answered after the notice.
        await bobSessionOnA.Ended.WaitAsync(Timeout);
        state = (await alice.WhoAsync("lobby", CancellationToken.None)).Value!;
        Assert.That(state.Online.Single(e => e.User == "bob").Connections, Is.EqualTo(1), "still online on b");
        Assert.That(aliceBox.Drain().OfType<PresenceDiff>().SelectMany(d => d.Leaves), Is.Empty, "no leave while bob is on b");

        await bobOnB.Client.DisposeAsync();
        var diff = await aliceBox.NextAsync<PresenceDiff>();
        Assert.That(diff.Leaves.Select(e => e.User), Is.EqualTo(new[] { "bob" }));
    }

    [Test]
    public async Task Private_messages_reach_every_tab_of_the_recipient_on_every_node_once()
    {
        var (alice, _) = await a.ConnectAsync("alice");
        var (_, bobOnA) = await a.ConnectAsync("bob");
        var (_, bobOnB) = await b.ConnectAsync("bob");

        Assert.That((await alice.SendPrivateAsync("bob", "psst", CancellationToken.None)).Error, Is.Null);

        Assert.That((await bobOnA.NextAsync<PrivateMessage>()).Text, Is.EqualTo("psst"));
        Assert.That((await bobOnB.NextAsync<PrivateMessage>()).Text, Is.EqualTo("psst"));
        await alice.SendPrivateAsync("bob", "again", CancellationToken.None);
        Assert.That((await bobOnB.NextAsync<PrivateMessage>()).Text, Is.EqualTo("again"), "and only once");
        Assert.That((await bobOnA.NextAsync<PrivateMessage>()).Text, Is.EqualTo("again"));
    }

    [Test]
    public async Task A_node_that_goes_silent_takes_its_users_offline_in_the_other_nodes_rooms()
    {
        Assert.That(await ((IRoomStore)store).TryCreateAsync("lobby", CancellationToken.None), Is.True);
        var (_, aliceBox) = await InLobbyAsync(a, "alice");
        await InLobbyAsync(b, "carol");
        var joined = await aliceBox.NextAsync<PresenceDiff>();
        while (!joined.Joins.Any(e => e.User == "carol"))
        {
            joined = await aliceBox.NextAsync<PresenceDiff>();
        }

        // b is killed: a hears nothing more from it.
        for (var beat = 0; beat < 4; beat++)
        {
            clock.Advance(TimeSpan.FromSeconds(5));
            presenceA.Tick();
        }

        var left = await aliceBox.NextAsync<PresenceDiff>();
        Assert.That(left.Leaves.Select(e => e.User), Is.EqualTo(new[] { "carol" }));
    }

    [Test]
    public async Task Moderation_on_one_node_binds_the_room_on_the_other_at_once()
    {
        var (alice, _) = await a.ConnectAsync("alice");
        Assert.That(await alice.CreateAsync("plans", true, CancellationToken.None), Is.Null);
        Assert.That((await alice.JoinAsync("plans", CancellationToken.None)).Error, Is.Null);
        var (bob, bobBox) = await b.ConnectAsync("bob");
        Assert.That((await bob.JoinAsync("plans", CancellationToken.None)).Error?.Code, Is.EqualTo("not_invited"));

        // Node b's process of the room is running (bob asked it): it learns the invitation from the event.
        Assert.That((await alice.InviteAsync("plans", "bob", CancellationToken.None)).Error, Is.Null);
        Assert.That((await bob.JoinAsync("plans", CancellationToken.None)).Error, Is.Null);
        Assert.That((await bob.SendToRoomAsync("plans", "hi", CancellationToken.None)).Error, Is.Null);

        Assert.That((await alice.MuteAsync("plans", "bob", TimeSpan.FromMinutes(5), CancellationToken.None)).Error, Is.Null);
        await NextKindAsync(bobBox, RoomEventKind.Mute);
        Assert.That((await bob.SendToRoomAsync("plans", "muted?", CancellationToken.None)).Error?.Code, Is.EqualTo("muted"), "the mute binds bob on node b");

        Assert.That((await alice.BanAsync("plans", "bob", CancellationToken.None)).Error, Is.Null);
        await NextKindAsync(bobBox, RoomEventKind.Ban);
        Assert.That((await bob.SendToRoomAsync("plans", "still here", CancellationToken.None)).Error?.Code, Is.EqualTo("not_a_member"));
        Assert.That((await bob.JoinAsync("plans", CancellationToken.None)).Error?.Code, Is.EqualTo("banned"));
        Assert.That((await bob.RoomsAsync(CancellationToken.None)).Value!.All, Does.Not.Contain("plans"), "bob's session on node b dropped the room, so it is hidden again");

        Assert.That((await alice.SetTopicAsync("plans", "friday", CancellationToken.None)).Error, Is.Null);
        var (carol, _) = await b.ConnectAsync("carol");
        Assert.That((await alice.InviteAsync("plans", "carol", CancellationToken.None)).Error, Is.Null);
        Assert.That((await carol.JoinAsync("plans", CancellationToken.None)).Error, Is.Null);
        Assert.That((await carol.DescribeAsync("plans", CancellationToken.None)).Value!.Topic, Is.EqualTo("friday"));
    }

    [Test]
    public async Task An_edit_on_one_node_reaches_members_on_the_other_in_the_room_order()
    {
        Assert.That(await ((IRoomStore)store).TryCreateAsync("lobby", CancellationToken.None), Is.True);
        var (alice, _) = await InLobbyAsync(a, "alice");
        var (_, bobBox) = await InLobbyAsync(b, "bob");
        var id = (await alice.SendToRoomAsync("lobby", "helo", CancellationToken.None)).Value;
        var edit = await alice.EditAsync("lobby", id, "hello", CancellationToken.None);
        Assert.That(edit.Error, Is.Null);
        var seen = await NextKindAsync(bobBox, RoomEventKind.Edit);
        Assert.That((seen.Id, seen.RefersTo, seen.Text), Is.EqualTo((edit.Value, (long?)id, "hello")));
    }

    private static async Task<RoomMessage> NextKindAsync(RecordingOutbox outbox, string kind)
    {
        for (var i = 0; i < 100; i++)
        {
            var next = await outbox.NextAsync<RoomMessage>();
            if (next.Kind == kind)
            {
                return next;
            }
        }

        throw new AssertionException($"no {kind} event");
    }
}
