using TinyChat.Chat;

namespace TinyChat.Tests.Chat;

/// <summary>The core decides who may connect, once for every front door: authentication, the per-user limit, the greeting.</summary>
public sealed class ConnectionPolicyTests
{
    [TestCase(null, "missing_token")]
    [TestCase("", "missing_token")]
    [TestCase("nobody_token", "invalid_token")]
    public async Task A_missing_or_unknown_token_is_refused_with_its_code(string? token, string code)
    {
        await using var core = await ChatCore.StartAsync(null, "alice");

        var admitted = await core.Server.AdmitAsync(token, CancellationToken.None);

        Assert.That(admitted.Error?.Code, Is.EqualTo(code));
    }

    [Test]
    public async Task Connects_racing_for_the_last_slots_never_exceed_the_limit()
    {
        await using var core = await ChatCore.StartAsync(new ChatLimits(4000, 64, 64) { MaxConnectionsPerUser = 3 }, "alice");

        var attempts = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(() => core.Server.AdmitAsync("alice_token", CancellationToken.None))));

        var admitted = attempts.Where(a => a.IsOk).Select(a => a.Value!).ToList();
        Assert.That(admitted, Has.Count.EqualTo(3));
        Assert.That(attempts.Where(a => !a.IsOk).Select(a => a.Error!.Code), Is.All.EqualTo("too_many_connections"));
        Assert.That(core.Server.Slots.CountOf("alice"), Is.EqualTo(3));

        // An admission that never connected gives its slot back.
        await admitted[0].DisposeAsync();
        var again = await core.Server.AdmitAsync("alice_token", CancellationToken.None);
        Assert.That(again.IsOk, Is.True);
    }

    [Test]
    public async Task A_closed_client_gives_its_slot_back()
    {
        await using var core = await ChatCore.StartAsync(new ChatLimits(4000, 64, 64) { MaxConnectionsPerUser = 1 }, "alice");
        var (client, _) = await core.ConnectAsync("alice");
        Assert.That((await core.Server.AdmitAsync("alice_token", CancellationToken.None)).Error?.Code, Is.EqualTo("too_many_connections"));

        await client.DisposeAsync();
        await client.DisposeAsync();

        Assert.That(core.Server.Slots.CountOf("alice"), Is.Zero, "disposing twice releases once");
        Assert.That((await core.Server.AdmitAsync("alice_token", CancellationToken.None)).IsOk, Is.True);
    }

    [Test]
    public async Task As_alice_when_I_connect_again_I_first_learn_who_is_online_in_each_room_I_joined()
    {
        await using var core = await ChatCore.StartAsync(null, "alice", "bob");
        var (bob, _) = await core.ConnectAsync("bob");
        var (alice, _) = await core.ConnectAsync("alice");
        Assert.That((await alice.JoinAsync("default", CancellationToken.None)).Error, Is.Null);
        Assert.That((await bob.JoinAsync("default", CancellationToken.None)).Error, Is.Null);

        var (_, secondTab) = await core.ConnectAsync("alice");

        var greeting = secondTab.Drain().OfType<PresenceState>().Single();
        Assert.That(greeting.Room, Is.EqualTo("default"));
        Assert.That(greeting.Online.Select(p => p.User), Is.EqualTo(new[] { "alice", "bob" }));
    }

    [Test]
    public async Task As_alice_when_I_connect_again_I_am_greeted_once_in_every_room_I_joined_in_name_order()
    {
        await using var core = await ChatCore.StartAsync(null, "alice");
        await core.Server.Rooms.CreateAsync("zebra", CancellationToken.None);
        await core.Server.Rooms.CreateAsync("aardvark", CancellationToken.None);
        var (alice, _) = await core.ConnectAsync("alice");
        foreach (var room in new[] { "zebra", "default", "aardvark" })
        {
            Assert.That((await alice.JoinAsync(room, CancellationToken.None)).Error, Is.Null);
        }

        // The rooms come with the attach (one trip through the session), so the greeting is complete when the
        // connect returns.
        var (_, secondTab) = await core.ConnectAsync("alice");

        Assert.That(secondTab.Drain().OfType<PresenceState>().Select(p => p.Room), Is.EqualTo(new[] { "aardvark", "default", "zebra" }));
    }

    [Test]
    public async Task As_bob_when_alice_posts_in_a_room_we_share_my_outbox_receives_it_once()
    {
        await using var core = await ChatCore.StartAsync(null, "alice", "bob");
        var (alice, _) = await core.ConnectAsync("alice");
        var (bob, bobOutbox) = await core.ConnectAsync("bob");
        await alice.JoinAsync("default", CancellationToken.None);
        await bob.JoinAsync("default", CancellationToken.None);

        var sent = await alice.SendToRoomAsync("default", "hello bob", CancellationToken.None);

        var received = await bobOutbox.NextAsync<RoomMessage>();
        Assert.That((received.From, received.Text, received.Id), Is.EqualTo(("alice", "hello bob", sent.Value)));
        Assert.That(bobOutbox.HasNoMessages, Is.True);
    }
}
