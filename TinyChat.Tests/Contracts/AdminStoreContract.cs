using TinyChat.Chat;
using TinyChat.Storage;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Contracts;

/// <summary>
/// What every <see cref="IAdminStore"/> promises the admin command line and the servers that poll its change record,
/// checked against the server's own store on the same data. Each provider runs it through a small subclass.
/// </summary>
[TestFixture]
public abstract class AdminStoreContract
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 10, 15, 30, 125, TimeSpan.Zero);

    /// <summary>The clock both stores read.</summary>
    protected ManualClock Clock { get; } = new(T0);

    /// <summary>An admin view of a store no server has created yet (nothing exists before a call).</summary>
    protected abstract IAdminStore NewAdminStore();

    /// <summary>A server's store on the same data, opened as a server opens it (closed by <see cref="CloseAsync"/>).</summary>
    protected abstract Task<IDurableStore> OpenServerStoreAsync();

    /// <summary>Closes what was opened and removes what the test left behind.</summary>
    protected abstract Task CloseAsync();

    [TearDown]
    public Task Close() => CloseAsync();

    private async Task<IAdminStore> PreparedAsync()
    {
        var admin = NewAdminStore();
        await admin.PrepareAsync(create: true, None);
        return admin;
    }

    [Test]
    public void Prepare_without_create_refuses_a_store_nobody_created_and_creates_nothing()
    {
        var admin = NewAdminStore();

        var first = Assert.ThrowsAsync<StorageException>(() => admin.PrepareAsync(create: false, None));
        Assert.ThrowsAsync<StorageException>(() => NewAdminStore().PrepareAsync(create: false, None), "still nothing there");
        Assert.That(first!.Message, Does.Contain("first start"));
    }

    [Test]
    public async Task An_added_user_signs_in_on_the_server_store_and_a_taken_name_is_refused()
    {
        var admin = await PreparedAsync();

        Assert.That(await admin.CreateUserAsync("alice", "alice-token", None), Is.True);
        Assert.That(await admin.CreateUserAsync("alice", "other-token", None), Is.False);

        var server = await OpenServerStoreAsync();
        Assert.That(await server.AuthenticateAsync("alice-token", None), Is.EqualTo("alice"));
        Assert.That(await server.AuthenticateAsync("other-token", None), Is.Null);
        Assert.That(await admin.LastChangeAsync(None), Is.Zero, "an added user concerns no open connection");
    }

    [Test]
    public async Task Users_are_listed_by_name_with_when_they_were_created_and_how_many_rooms_they_joined()
    {
        var admin = await PreparedAsync();
        await admin.CreateUserAsync("bob", "b", None);
        Clock.Advance(TimeSpan.FromMinutes(1));
        await admin.CreateUserAsync("alice", "a", None);
        var server = await OpenServerStoreAsync();
        await server.TryCreateAsync("lobby", None);
        await server.TryCreateAsync("quiet", None);
        await server.AddMemberAsync("lobby", "bob", None);
        await server.AddMemberAsync("quiet", "bob", None);

        var users = await admin.ListUsersAsync(None);

        Assert.That(users, Is.EqualTo(new[]
        {
            new UserReport("alice", T0.AddMinutes(1), 0),
            new UserReport("bob", T0, 2),
        }));
    }

    [Test]
    public async Task A_token_reset_replaces_the_token_and_is_recorded_for_running_servers()
    {
        var admin = await PreparedAsync();
        await admin.CreateUserAsync("alice", "old", None);
        var server = await OpenServerStoreAsync();
        var before = await admin.LastChangeAsync(None);

        Assert.That(await admin.ResetTokenAsync("alice", "new", None), Is.True);
        Assert.That(await admin.ResetTokenAsync("nobody", "x", None), Is.False);

        Assert.That(await server.AuthenticateAsync("old", None), Is.Null);
        Assert.That(await server.AuthenticateAsync("new", None), Is.EqualTo("alice"));
        var changes = await admin.ChangesAfterAsync(before, 10, None);
        Assert.That(changes.Select(c => (c.Kind, c.Name)), Is.EqualTo(new[] { (AdminChangeKind.TokenReset, "alice") }), "nothing recorded for a user that does not exist");
        Assert.That(await admin.LastChangeAsync(None), Is.EqualTo(changes[0].Id));
    }

    [Test]
    public async Task A_deleted_user_loses_its_account_and_memberships_but_its_messages_stay()
    {
        var admin = await PreparedAsync();
        await admin.CreateUserAsync("alice", "a", None);
        var server = await OpenServerStoreAsync();
        await server.TryCreateAsync("lobby", None);
        await server.AddMemberAsync("lobby", "alice", None);
        await server.AppendRoomMessagesAsync("lobby", [new NewRoomMessage("alice", "still here", T0)], None);

        Assert.That(await admin.DeleteUserAsync("alice", None), Is.True);
        Assert.That(await admin.DeleteUserAsync("alice", None), Is.False);

        Assert.That(await ((IAccountStore)server).ExistsAsync("alice", None), Is.False);
        Assert.That(await server.AuthenticateAsync("a", None), Is.Null);
        Assert.That(await server.MembersAsync("lobby", None), Is.Empty);
        Assert.That((await server.RoomHistoryAsync("lobby", new HistoryQuery(null, 0, 10), None)).Single().Text, Is.EqualTo("still here"));
        Assert.That((await admin.ChangesAfterAsync(0, 10, None)).Select(c => (c.Kind, c.Name)), Is.EqualTo(new[] { (AdminChangeKind.UserDeleted, "alice") }));
    }

    [Test]
    public async Task Rooms_are_listed_with_members_messages_and_last_activity()
    {
        var admin = await PreparedAsync();
        var server = await OpenServerStoreAsync();
        await server.TryCreateAsync("lobby", None);
        await server.TryCreateAsync("empty", None);
        await server.AddMemberAsync("lobby", "alice", None);
        await server.AddMemberAsync("lobby", "bob", None);
        await server.AppendRoomMessagesAsync("lobby", [new NewRoomMessage("alice", "one", T0), new NewRoomMessage("bob", "two", T0.AddSeconds(5))], None);

        var rooms = await admin.ListRoomsAsync(None);

        Assert.That(rooms, Is.EqualTo(new[]
        {
            new RoomReport("empty", 0, 0, null),
            new RoomReport("lobby", 2, 2, T0.AddSeconds(5)),
        }));
    }

    [Test]
    public async Task A_deleted_room_loses_its_memberships_and_history_and_is_recorded()
    {
        var admin = await PreparedAsync();
        var server = await OpenServerStoreAsync();
        await server.TryCreateAsync("lobby", None);
        await server.TryCreateAsync("doomed", None);
        await server.AddMemberAsync("doomed", "alice", None);
        await server.AppendRoomMessagesAsync("doomed", [new NewRoomMessage("alice", "bye", T0)], None);

        Assert.That(await admin.DeleteRoomAsync("doomed", None), Is.True);
        Assert.That(await admin.DeleteRoomAsync("doomed", None), Is.False);

        Assert.That(await server.ListAsync(None), Is.EqualTo(new[] { "lobby" }));
        Assert.That(await server.RoomsOfAsync("alice", None), Is.Empty);
        Assert.That(await server.RoomHistoryAsync("doomed", new HistoryQuery(null, 0, 10), None), Is.Empty);
        Assert.That(await server.LastRoomIdAsync("doomed", None), Is.Zero);
        Assert.That((await admin.ChangesAfterAsync(0, 10, None)).Select(c => (c.Kind, c.Name)), Is.EqualTo(new[] { (AdminChangeKind.RoomDeleted, "doomed") }));
    }

    [Test]
    public async Task A_room_deleted_under_a_running_server_and_created_again_takes_posts_from_one()
    {
        var admin = await PreparedAsync();
        var server = await OpenServerStoreAsync();
        await server.TryCreateAsync("phoenix", None);
        await server.TryCreateAsync("lobby", None);
        await server.AppendRoomMessagesAsync("phoenix", [new NewRoomMessage("alice", "first life", T0)], None);
        await server.AppendRoomMessagesAsync("phoenix", [new NewRoomMessage("alice", "still first", T0)], None);

        Assert.That(await admin.DeleteRoomAsync("phoenix", None), Is.True);
        Assert.That(await server.TryCreateAsync("phoenix", None), Is.True, "under a new row id: lobby's came after the old one");
        var first = await server.AppendRoomMessagesAsync("phoenix", [new NewRoomMessage("bob", "second life", T0)], None);

        Assert.That(first, Is.EqualTo(1), "the new room's numbers start again: nothing of the deleted room is remembered");
        Assert.That((await server.RoomHistoryAsync("phoenix", new HistoryQuery(null, 0, 10), None)).Select(m => m.Text), Is.EqualTo(new[] { "second life" }));
    }

    [Test]
    public async Task A_deleted_private_room_loses_its_standings_and_a_deleted_user_its_roles_bans_and_invitations()
    {
        var admin = await PreparedAsync();
        await admin.CreateUserAsync("bob", "b", None);
        var server = await OpenServerStoreAsync();
        foreach (var room in new[] { "secret", "club" })
        {
            await server.TryCreateAsync(room, "alice", true, None);
            await server.AddMemberAsync(room, "alice", None);
            await server.AppendRoomMessagesAsync(
                room,
                [
                    new NewRoomMessage("alice", "", T0) { Kind = RoomEventKind.Invite, Target = "carol" },
                    new NewRoomMessage("alice", "", T0) { Kind = RoomEventKind.Role, Target = "bob", Text = "moderator" },
                    new NewRoomMessage("alice", "", T0) { Kind = RoomEventKind.Ban, Target = "dave" },
                ],
                None);
        }

        await server.AppendRoomMessagesAsync("club", [new NewRoomMessage("alice", "", T0) { Kind = RoomEventKind.Invite, Target = "bob" }], None);

        Assert.That(await admin.DeleteRoomAsync("secret", None), Is.True, "its standings go with it");
        Assert.That(await admin.DeleteUserAsync("bob", None), Is.True);

        Assert.That(await server.AccessAsync("secret", None), Is.Null);
        var club = (await server.AccessAsync("club", None))!;
        Assert.That(club.Moderators, Is.Empty, "a later account named bob is someone else");
        Assert.That(club.Invited, Is.EquivalentTo(new[] { "carol" }));
        Assert.That(club.Banned, Is.EquivalentTo(new[] { "dave" }));
    }

    [Test]
    public async Task Changes_are_read_oldest_first_in_pages_after_an_id()
    {
        var admin = await PreparedAsync();
        foreach (var user in new[] { "a", "b", "c", "d", "e" })
        {
            await admin.CreateUserAsync(user, user, None);
            await admin.ResetTokenAsync(user, user + "2", None);
        }

        var all = await admin.ChangesAfterAsync(0, 100, None);
        var firstPage = await admin.ChangesAfterAsync(0, 2, None);
        var nextPage = await admin.ChangesAfterAsync(firstPage[^1].Id, 2, None);

        Assert.That(all.Select(c => c.Name), Is.EqualTo(new[] { "a", "b", "c", "d", "e" }));
        Assert.That(all.Select(c => c.Id), Is.Ordered.Ascending);
        Assert.That(firstPage.Concat(nextPage), Is.EqualTo(all.Take(4)));
        Assert.That(await admin.ChangesAfterAsync(all[^1].Id, 10, None), Is.Empty);
        Assert.That(await admin.LastChangeAsync(None), Is.EqualTo(all[^1].Id));
    }

    [Test]
    public async Task A_server_polling_while_administrators_change_things_at_once_misses_no_change()
    {
        const int Writers = 4;
        const int PerWriter = 15;
        var setup = await PreparedAsync();
        for (var w = 0; w < Writers; w++)
        {
            await setup.CreateUserAsync($"u{w}", "t", None);
        }

        // Several admin processes at once, and a node polling "after the last id applied" meanwhile: with ids
        // handed out out of commit order, the poller would step over a change that commits late.
        var writers = Task.WhenAll(Enumerable.Range(0, Writers).Select(w => Task.Run(async () =>
        {
            var admin = await PreparedAsync();
            for (var i = 0; i < PerWriter; i++)
            {
                Assert.That(await admin.ResetTokenAsync($"u{w}", $"t{i}", None), Is.True);
            }
        })));
        var seen = new List<AdminChange>();
        var poller = await PreparedAsync();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        async Task<int> PollAsync()
        {
            var page = await poller.ChangesAfterAsync(seen.Count == 0 ? 0 : seen[^1].Id, 7, None);
            seen.AddRange(page);
            return page.Count;
        }

        while (!writers.IsCompleted && DateTime.UtcNow < deadline)
        {
            await PollAsync();
        }

        await writers.WaitAsync(TimeSpan.FromSeconds(60));
        for (var i = 0; i < Writers * PerWriter && await PollAsync() > 0; i++)
        {
            // What committed after the last poll above.
        }

        Assert.That(seen, Has.Count.EqualTo(Writers * PerWriter));
        Assert.That(seen.Select(c => c.Id), Is.Unique);
        Assert.That(seen.GroupBy(c => c.Name).Select(g => g.Count()), Is.All.EqualTo(PerWriter));
    }

    [Test]
    public async Task An_invite_registers_as_many_accounts_as_it_has_uses_on_the_server_store_and_is_listed_with_what_is_left()
    {
        var admin = await PreparedAsync();
        var now = Clock.GetUtcNow();
        var created = await admin.CreateInviteAsync("code-one-abcdef", 2, now.AddDays(7), None);
        var server = await OpenServerStoreAsync();

        Assert.That(await server.TryCreateWithInviteAsync("alice", "alice-token", "code-one-abcdef", None), Is.EqualTo(InvitedSignUp.Created));
        Assert.That(await server.TryCreateWithInviteAsync("alice", "again-token", "code-one-abcdef", None), Is.EqualTo(InvitedSignUp.NameTaken), "a taken name uses nothing");
        Assert.That(await server.TryCreateWithInviteAsync("bob", "bob-token", "not-a-code", None), Is.EqualTo(InvitedSignUp.InvalidInvite));
        Assert.That(await server.AuthenticateAsync("bob-token", None), Is.Null, "no account without a valid code");
        Assert.That(await server.TryCreateWithInviteAsync("bob", "bob-token", "code-one-abcdef", None), Is.EqualTo(InvitedSignUp.Created));
        Assert.That(await server.TryCreateWithInviteAsync("carol", "carol-token", "code-one-abcdef", None), Is.EqualTo(InvitedSignUp.InvalidInvite), "used up");

        Assert.That(await server.AuthenticateAsync("alice-token", None), Is.EqualTo("alice"));
        Assert.That(await server.AuthenticateAsync("bob-token", None), Is.EqualTo("bob"));
        Assert.That(await ((IAccountStore)server).ExistsAsync("carol", None), Is.False);
        Assert.That(await admin.ListInvitesAsync(None), Is.EqualTo(new[] { created with { UsesLeft = 0 } }));
        Assert.That(created.Hint, Is.EqualTo("code"));
        Assert.That(created.ExpiresAt, Is.EqualTo(now.AddDays(7)));
        Assert.That(created.CreatedAt, Is.EqualTo(now));
    }

    [Test]
    public async Task An_expired_or_revoked_invite_registers_nobody()
    {
        // The fixture's clock only moves forward and other tests read it: expiry is tested with a code born expired.
        var admin = await PreparedAsync();
        var now = Clock.GetUtcNow();
        await admin.CreateInviteAsync("valid-for-a-moment", 5, now.AddMilliseconds(1), None);
        await admin.CreateInviteAsync("expired-a-moment-ago", 5, now, None);
        var byId = await admin.CreateInviteAsync("revoked-by-id", 5, now.AddDays(1), None);
        await admin.CreateInviteAsync("revoked-by-code", 5, now.AddDays(1), None);
        var server = await OpenServerStoreAsync();

        Assert.That(await admin.RevokeInviteAsync(byId.Id, None), Is.True);
        Assert.That(await admin.RevokeInviteAsync("revoked-by-code", None), Is.True);
        Assert.That(await admin.RevokeInviteAsync("revoked-by-code", None), Is.False, "gone already");
        Assert.That(await admin.RevokeInviteAsync(byId.Id + 100, None), Is.False);
        Assert.That(await server.TryCreateWithInviteAsync("a", "a", "revoked-by-id", None), Is.EqualTo(InvitedSignUp.InvalidInvite));
        Assert.That(await server.TryCreateWithInviteAsync("b", "b", "revoked-by-code", None), Is.EqualTo(InvitedSignUp.InvalidInvite));
        Assert.That(await server.TryCreateWithInviteAsync("c", "c", "valid-for-a-moment", None), Is.EqualTo(InvitedSignUp.Created));
        Assert.That(await server.TryCreateWithInviteAsync("d", "d", "expired-a-moment-ago", None), Is.EqualTo(InvitedSignUp.InvalidInvite), "expired");
        Assert.That((await admin.ListInvitesAsync(None)).Select(i => (i.Hint, i.UsesLeft)), Is.EqualTo(new[] { ("vali", 4), ("expi", 5) }));
    }

    [TestCase(1)]
    [TestCase(3)]
    public async Task Registrations_racing_for_an_invite_take_exactly_its_uses(int uses)
    {
        const int Racers = 16;
        var admin = await PreparedAsync();
        await admin.CreateInviteAsync("contested", uses, Clock.GetUtcNow().AddDays(1), None);
        var server = await OpenServerStoreAsync();

        using var start = new SemaphoreSlim(0);
        var racers = Enumerable.Range(0, Racers).Select(i => Task.Run(async () =>
        {
            await start.WaitAsync(TimeSpan.FromSeconds(10));
            return await server.TryCreateWithInviteAsync($"racer{i}", $"racer{i}-token", "contested", None);
        })).ToList();
        start.Release(Racers);
        var outcomes = await Task.WhenAll(racers).WaitAsync(TimeSpan.FromSeconds(60));

        Assert.That(outcomes.Count(o => o == InvitedSignUp.Created), Is.EqualTo(uses));
        Assert.That(outcomes.Count(o => o == InvitedSignUp.InvalidInvite), Is.EqualTo(Racers - uses));
        var accounts = 0;
        for (var i = 0; i < Racers; i++)
        {
            accounts += await ((IAccountStore)server).ExistsAsync($"racer{i}", None) ? 1 : 0;
        }

        Assert.That(accounts, Is.EqualTo(uses));
        Assert.That((await admin.ListInvitesAsync(None)).Single().UsesLeft, Is.Zero);
    }
}
