using TinyChat.Chat;

namespace TinyChat.Tests.Chat;

/// <summary>
/// The core decides presence for every front door: a user is online while a live connection is open; each further
/// connection is announced as such (for protocols that show connections); API requests act without appearing.
/// </summary>
public sealed class ConnectionPresenceTests
{
    [Test]
    public async Task A_second_connection_is_announced_as_a_connection_and_the_user_comes_and_goes_once()
    {
        await using var core = await ChatCore.StartAsync(null, "alice", "bob");
        var (bob, bobBox) = await core.ConnectAsync("bob");
        await bob.JoinAsync("default", CancellationToken.None);
        var (alice, _) = await core.ConnectAsync("alice");
        await alice.JoinAsync("default", CancellationToken.None);
        var came = await NextPresenceAsync(bobBox, "alice");
        var firstTab = ((PresenceDiff)came).Joins.Single(j => j.User == "alice").Named.Single();

        var (secondTab, _) = await core.ConnectAsync("alice");
        var opened = (PresenceConnectionDiff)await NextPresenceAsync(bobBox, "alice");
        Assert.That((opened.Room, opened.User, opened.Closed.Count), Is.EqualTo(("default", "alice", 0)));
        var secondMeta = opened.Opened.Single();
        Assert.That(secondMeta.Id, Is.Not.EqualTo(firstTab.Id), "one id per connection");
        var state = (await bob.WhoAsync("default", CancellationToken.None)).Value!;
        Assert.That(state.Online.Single(e => e.User == "alice").Named.Select(c => c.Id), Is.EqualTo(new[] { firstTab.Id, secondMeta.Id }));

        await secondTab.DisposeAsync();
        var closed = (PresenceConnectionDiff)await NextPresenceAsync(bobBox, "alice");
        Assert.That((closed.User, closed.Opened.Count, closed.Closed.Single()), Is.EqualTo(("alice", 0, secondMeta)));

        await alice.DisposeAsync();
        var went = (PresenceDiff)await NextPresenceAsync(bobBox, "alice");
        var leave = went.Leaves.Single();
        Assert.That((leave.User, leave.Connections, went.Joins.Count), Is.EqualTo(("alice", 0, 0)), "offline: the user leaves once");
        Assert.That(leave.Named.Single().Id, Is.EqualTo(firstTab.Id), "the leave names the connection that closed last");
    }

    [Test]
    public async Task An_api_request_acts_as_its_user_without_making_it_online()
    {
        await using var core = await ChatCore.StartAsync(null, "alice", "bob");
        var (bob, bobBox) = await core.ConnectAsync("bob");
        await bob.JoinAsync("default", CancellationToken.None);

        await using (var request = await RequestAsync(core, "alice"))
        {
            Assert.That((await request.JoinAsync("default", CancellationToken.None)).Error, Is.Null);
            Assert.That(core.Server.Presence.Find("alice"), Is.Null, "a request is not a presence");
            Assert.That((await request.SendToRoomAsync("default", "from a bot", CancellationToken.None)).Error, Is.Null);
        }

        var seen = await UntilMessageAsync(bobBox, "from a bot");
        Assert.That(seen.OfType<PresenceDiff>().Where(d => d.Joins.Concat(d.Leaves).Any(e => e.User == "alice")), Is.Empty, "no flicker");
        Assert.That((await bob.WhoAsync("default", CancellationToken.None)).Value!.Online.Select(e => e.User), Is.EqualTo(new[] { "bob" }));

        // The member the request made appears when she opens a live connection.
        var (alice, _) = await core.ConnectAsync("alice");
        var came = (PresenceDiff)await NextPresenceAsync(bobBox, "alice");
        Assert.That(came.Joins.Select(e => e.User), Is.EqualTo(new[] { "alice" }));

        // While she is online, her requests are not connections of hers either.
        await using (var request = await RequestAsync(core, "alice"))
        {
            await request.SendToRoomAsync("default", "from the bot again", CancellationToken.None);
        }

        await alice.SendToRoomAsync("default", "marker", CancellationToken.None);
        seen = await UntilMessageAsync(bobBox, "marker");
        Assert.That(seen.Where(e => e is PresenceDiff or PresenceConnectionDiff), Is.Empty);
        Assert.That(core.Server.Presence.Find("alice")?.Connections, Is.EqualTo(1));
    }

    [Test]
    public async Task A_user_whose_last_live_connection_closes_during_a_request_goes_offline_and_can_come_back()
    {
        await using var core = await ChatCore.StartAsync(null, "alice", "bob");
        var (bob, bobBox) = await core.ConnectAsync("bob");
        await bob.JoinAsync("default", CancellationToken.None);
        var (alice, _) = await core.ConnectAsync("alice");
        await alice.JoinAsync("default", CancellationToken.None);
        Assert.That(((PresenceDiff)await NextPresenceAsync(bobBox, "alice")).Joins.Single().User, Is.EqualTo("alice"));

        await using var request = await RequestAsync(core, "alice");
        await alice.DisposeAsync();
        var went = (PresenceDiff)await NextPresenceAsync(bobBox, "alice");
        Assert.That(went.Leaves.Select(e => (e.User, e.Connections)), Is.EqualTo(new[] { ("alice", 0) }));
        Assert.That((await request.SendToRoomAsync("default", "the request still acts", CancellationToken.None)).Error, Is.Null);

        var (back, _) = await core.ConnectAsync("alice");
        var came = (PresenceDiff)await NextPresenceAsync(bobBox, "alice");
        Assert.That(came.Joins.Single().User, Is.EqualTo("alice"));
        Assert.That(came.Joins.Single().OnlineAt, Is.GreaterThanOrEqualTo(went.Leaves.Single().Named.Single().OpenedAt), "online since the return");
        await back.DisposeAsync();
        Assert.That(((PresenceDiff)await NextPresenceAsync(bobBox, "alice")).Leaves.Single().User, Is.EqualTo("alice"));
    }

    private static async Task<ChatClient> RequestAsync(ChatCore core, string user)
    {
        var admitted = await core.Server.AdmitAsync(user + "_token", CancellationToken.None);
        return await admitted.Value!.ConnectRequestAsync(CancellationToken.None);
    }

    // The next presence change that concerns the user (others' are skipped).
    private static async Task<ChatEvent> NextPresenceAsync(RecordingOutbox outbox, string user)
    {
        for (var i = 0; i < 100; i++)
        {
            var next = await outbox.NextAsync<ChatEvent>();
            if (next is PresenceDiff diff && diff.Joins.Concat(diff.Leaves).Any(e => e.User == user) || next is PresenceConnectionDiff c && c.User == user)
            {
                return next;
            }
        }

        throw new AssertionException($"no presence change of {user} among the next 100 events");
    }

    private static async Task<List<ChatEvent>> UntilMessageAsync(RecordingOutbox outbox, string text)
    {
        var seen = new List<ChatEvent>();
        for (var i = 0; i < 100; i++)
        {
            var next = await outbox.NextAsync<ChatEvent>();
            if (next is RoomMessage m && m.Text == text)
            {
                return seen;
            }

            seen.Add(next);
        }

        throw new AssertionException($"no message \"{text}\" among the next 100 events");
    }
}
