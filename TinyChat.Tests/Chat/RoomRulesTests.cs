using TinyChat.Chat;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Chat;

/// <summary>
/// The rules of private rooms, roles, moderation, topics, edits and deletions, decided once in the core: each
/// refusal has its code and changes nothing (no event, no membership, no access change).
/// </summary>
public sealed class RoomRulesTests
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 9, 0, 0, TimeSpan.Zero);
    private ManualClock clock = null!;
    private ChatCore core = null!;

    [SetUp]
    public async Task Start()
    {
        clock = new ManualClock(T0);
        core = await ChatCore.StartAsync(
            clock,
            new ChatLimits(4000, 64, 64) { Admins = new HashSet<string>(["root"], StringComparer.Ordinal) },
            "owner",
            "mod",
            "member",
            "outsider",
            "root");
    }

    [TearDown]
    public async Task Stop() => await core.DisposeAsync();

    private async Task<(ChatClient Client, RecordingOutbox Outbox)> ConnectAsync(string user) => await core.ConnectAsync(user);

    private async Task<long> LastIdAsync(string room) => await core.Store.LastRoomIdAsync(room, None);

    /// <summary>owner creates R (private or not) and joins; mod is invited (if private), joins and is made moderator; member likewise without the role.</summary>
    private async Task<(ChatClient Owner, ChatClient Mod, ChatClient Member, RecordingOutbox MemberBox)> RoomAsync(string room, bool isPrivate)
    {
        var (owner, _) = await ConnectAsync("owner");
        var (mod, _) = await ConnectAsync("mod");
        var (member, memberBox) = await ConnectAsync("member");
        Assert.That(await owner.CreateAsync(room, isPrivate, None), Is.Null);
        Assert.That((await owner.JoinAsync(room, None)).Error, Is.Null, "the owner joins a private room without an invitation");
        foreach (var user in new[] { mod, member })
        {
            if (isPrivate)
            {
                Assert.That((await owner.InviteAsync(room, user.User, None)).Error, Is.Null);
            }

            Assert.That((await user.JoinAsync(room, None)).Error, Is.Null);
        }

        Assert.That((await owner.SetRoleAsync(room, "mod", RoomRole.Moderator, None)).Error, Is.Null);
        return (owner, mod, member, memberBox);
    }

    private async Task AssertRefusedAsync(Task<Outcome<long>> action, string code, string room)
    {
        var before = await LastIdAsync(room);
        var access = await core.Store.AccessAsync(room, None);
        var members = await core.Store.MembersAsync(room, None);
        var outcome = await action;
        Assert.That(outcome.Error?.Code, Is.EqualTo(code), outcome.Error?.Message);
        Assert.That(await LastIdAsync(room), Is.EqualTo(before), "a refusal stores no event");
        Assert.That(await core.Store.AccessAsync(room, None), Is.EqualTo(access).Using<RoomAccess>(SameAccess), "a refusal changes no access");
        Assert.That(await core.Store.MembersAsync(room, None), Is.EquivalentTo(members), "a refusal changes no membership");
    }

    private static bool SameAccess(RoomAccess? a, RoomAccess? b) =>
        a is not null && b is not null && a.IsPrivate == b.IsPrivate && a.Owner == b.Owner && a.Topic == b.Topic
        && a.Moderators.SetEquals(b.Moderators) && a.Invited.SetEquals(b.Invited) && a.Banned.SetEquals(b.Banned)
        && a.MutedUntil.Count == b.MutedUntil.Count;

    [Test]
    public async Task A_private_room_is_invisible_to_outsiders_and_joined_only_by_invitation()
    {
        await RoomAsync("secret", isPrivate: true);
        var (outsider, _) = await ConnectAsync("outsider");
        var rooms = await outsider.RoomsAsync(None);
        Assert.That(rooms.Value!.All, Does.Not.Contain("secret"));
        Assert.That(rooms.Value.All, Does.Contain("default"));

        var refused = await outsider.JoinAsync("secret", None);
        Assert.That(refused.Error?.Code, Is.EqualTo("not_invited"));
        Assert.That(await core.Store.MembersAsync("secret", None), Does.Not.Contain("outsider"));
        Assert.That((await outsider.RoomHistoryAsync("secret", new HistoryQuery(null, null, 10), None)).Error?.Code, Is.EqualTo("room_not_found"), "a private room is not even named to outsiders");
        Assert.That((await outsider.WhoAsync("secret", None)).Error?.Code, Is.EqualTo("not_a_member"));
        Assert.That((await outsider.SendToRoomAsync("secret", "hi", None)).Error?.Code, Is.EqualTo("not_a_member"));

        var (member, _) = await ConnectAsync("member");
        Assert.That((await member.RoomsAsync(None)).Value!.All, Does.Contain("secret"), "members see it");
        var (root, _) = await ConnectAsync("root");
        Assert.That((await root.RoomsAsync(None)).Value!.All, Does.Contain("secret"), "server admins see every room");
    }

    [Test]
    public async Task Only_moderators_invite_and_an_invitation_lets_the_user_in()
    {
        var (_, mod, member, _) = await RoomAsync("secret", isPrivate: true);
        await AssertRefusedAsync(member.InviteAsync("secret", "outsider", None), "forbidden", "secret");
        await AssertRefusedAsync(mod.InviteAsync("secret", "member", None), "invalid_target", "secret");
        Assert.That((await mod.InviteAsync("secret", "nobody_here", None)).Error?.Code, Is.EqualTo("user_not_found"));

        var invited = await mod.InviteAsync("secret", "outsider", None);
        Assert.That(invited.Error, Is.Null);
        var (outsider, outsiderBox) = await ConnectAsync("outsider");
        Assert.That((await outsider.JoinAsync("secret", None)).Error, Is.Null);
        var history = await outsider.RoomHistoryAsync("secret", new HistoryQuery(null, null, 50), None);
        Assert.That(history.Value!.Last(m => m.Kind == RoomEventKind.Invite).Target, Is.EqualTo("outsider"));
    }

    [Test]
    public async Task A_banned_spammer_is_removed_refused_on_rejoin_and_post_and_may_return_once_unbanned()
    {
        var (_, mod, member, memberBox) = await RoomAsync("lobby", isPrivate: false);
        var banned = await mod.BanAsync("lobby", "member", None);
        Assert.That(banned.Error, Is.Null);
        var announced = await NextEventAsync(memberBox, RoomEventKind.Ban);
        Assert.That((announced.Id, announced.From, announced.Target), Is.EqualTo((banned.Value, "mod", (string?)"member")), "the banned user hears it too, in the room's order");

        Assert.That((await member.SendToRoomAsync("lobby", "spam", None)).Error?.Code, Is.EqualTo("not_a_member"));
        Assert.That((await member.JoinAsync("lobby", None)).Error?.Code, Is.EqualTo("banned"));
        Assert.That((await member.RoomsAsync(None)).Value!.Joined, Does.Not.Contain("lobby"), "the session dropped the room");
        await AssertRefusedAsync(mod.BanAsync("lobby", "member", None), "invalid_target", "lobby");

        Assert.That((await mod.UnbanAsync("lobby", "member", None)).Error, Is.Null);
        Assert.That((await member.JoinAsync("lobby", None)).Error, Is.Null);
        await AssertRefusedAsync(mod.UnbanAsync("lobby", "member", None), "invalid_target", "lobby");
    }

    [Test]
    public async Task A_kicked_member_of_a_public_room_may_rejoin_but_of_a_private_room_needs_a_new_invitation()
    {
        var (_, mod, member, _) = await RoomAsync("lobby", isPrivate: false);
        Assert.That((await mod.KickAsync("lobby", "member", None)).Error, Is.Null);
        Assert.That(await core.Store.MembersAsync("lobby", None), Does.Not.Contain("member"));
        Assert.That((await member.JoinAsync("lobby", None)).Error, Is.Null);
        await AssertRefusedAsync(mod.KickAsync("lobby", "outsider", None), "invalid_target", "lobby");

        Assert.That(await mod.CreateAsync("secret", true, None), Is.Null);
        Assert.That((await mod.JoinAsync("secret", None)).Error, Is.Null);
        Assert.That((await mod.InviteAsync("secret", "member", None)).Error, Is.Null);
        Assert.That((await member.JoinAsync("secret", None)).Error, Is.Null);
        Assert.That((await mod.KickAsync("secret", "member", None)).Error, Is.Null);
        Assert.That((await member.JoinAsync("secret", None)).Error?.Code, Is.EqualTo("not_invited"));
    }

    [Test]
    public async Task Members_cannot_moderate_and_moderators_cannot_touch_their_equals_or_the_owner()
    {
        var (owner, mod, member, _) = await RoomAsync("lobby", isPrivate: false);
        await AssertRefusedAsync(member.KickAsync("lobby", "mod", None), "forbidden", "lobby");
        await AssertRefusedAsync(member.BanAsync("lobby", "outsider", None), "forbidden", "lobby");
        await AssertRefusedAsync(member.MuteAsync("lobby", "owner", TimeSpan.FromMinutes(1), None), "forbidden", "lobby");
        await AssertRefusedAsync(mod.KickAsync("lobby", "owner", None), "forbidden", "lobby");
        await AssertRefusedAsync(mod.SetRoleAsync("lobby", "member", RoomRole.Moderator, None), "forbidden", "lobby");
        await AssertRefusedAsync(owner.SetRoleAsync("lobby", "outsider", RoomRole.Moderator, None), "invalid_target", "lobby");

        Assert.That((await owner.SetRoleAsync("lobby", "member", RoomRole.Moderator, None)).Error, Is.Null);
        await AssertRefusedAsync(mod.KickAsync("lobby", "member", None), "forbidden", "lobby");
        Assert.That((await owner.SetRoleAsync("lobby", "member", RoomRole.Member, None)).Error, Is.Null);
        Assert.That((await mod.KickAsync("lobby", "member", None)).Error, Is.Null);
        Assert.That((await owner.KickAsync("lobby", "mod", None)).Error, Is.Null, "the owner outranks moderators");

        var (outsider, _) = await ConnectAsync("outsider");
        await AssertRefusedAsync(outsider.KickAsync("lobby", "owner", None), "not_a_member", "lobby");
    }

    [Test]
    public async Task A_server_admin_acts_in_any_room_without_being_a_member_and_outranks_its_owner()
    {
        var (_, _, _, _) = await RoomAsync("secret", isPrivate: true);
        var (root, _) = await ConnectAsync("root");
        Assert.That((await root.JoinAsync("secret", None)).Error, Is.Null, "an admin needs no invitation");
        Assert.That((await root.LeaveAsync("secret", None)), Is.Null);
        Assert.That((await root.SetTopicAsync("secret", "admin was here", None)).Error, Is.Null);
        Assert.That((await root.KickAsync("secret", "owner", None)).Error, Is.Null);
        Assert.That((await root.DescribeAsync("secret", None)).Value!.YourRole, Is.EqualTo(RoomRole.Admin));
    }

    [Test]
    public async Task A_muted_member_cannot_post_until_the_mute_ends_or_is_lifted()
    {
        var (_, mod, member, _) = await RoomAsync("lobby", isPrivate: false);
        Assert.That((await mod.MuteAsync("lobby", "member", TimeSpan.FromMinutes(5), None)).Error, Is.Null);
        var refused = await member.SendToRoomAsync("lobby", "let me speak", None);
        Assert.That(refused.Error?.Code, Is.EqualTo("muted"));
        Assert.That((await member.RoomHistoryAsync("lobby", new HistoryQuery(null, null, 50), None)).Value!.Any(m => m.Text == "let me speak"), Is.False);

        clock.Advance(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1));
        Assert.That((await member.SendToRoomAsync("lobby", "thanks", None)).Error, Is.Null, "the mute ended by itself");

        Assert.That((await mod.MuteAsync("lobby", "member", TimeSpan.FromHours(1), None)).Error, Is.Null);
        Assert.That((await member.SendToRoomAsync("lobby", "again", None)).Error?.Code, Is.EqualTo("muted"));
        Assert.That((await mod.UnmuteAsync("lobby", "member", None)).Error, Is.Null);
        Assert.That((await member.SendToRoomAsync("lobby", "free", None)).Error, Is.Null);
        await AssertRefusedAsync(mod.UnmuteAsync("lobby", "member", None), "invalid_target", "lobby");
        Assert.That((await mod.MuteAsync("lobby", "member", TimeSpan.Zero, None)).Error?.Code, Is.EqualTo("bad_request"));
    }

    [Test]
    public async Task Moderators_set_the_topic_members_see_it_announced_and_in_the_room_details()
    {
        var (_, mod, member, memberBox) = await RoomAsync("lobby", isPrivate: false);
        await AssertRefusedAsync(member.SetTopicAsync("lobby", "mine now", None), "forbidden", "lobby");
        Assert.That((await mod.SetTopicAsync("lobby", new string('x', ChatClient.MaxTopicLength + 1), None)).Error?.Code, Is.EqualTo("topic_too_long"));

        var set = await mod.SetTopicAsync("lobby", "release on friday", None);
        Assert.That(set.Error, Is.Null);
        var announced = await NextEventAsync(memberBox, RoomEventKind.Topic);
        Assert.That((announced.Text, announced.Id), Is.EqualTo(("release on friday", set.Value)));
        var details = (await member.DescribeAsync("lobby", None)).Value!;
        Assert.That((details.Topic, details.IsPrivate, details.Owner, details.YourRole), Is.EqualTo(("release on friday", false, "owner", RoomRole.Member)));
        Assert.That(details.Moderators, Is.EqualTo(new[] { "mod" }));
    }

    [Test]
    public async Task Authors_edit_and_delete_their_own_messages_moderators_delete_anyones_and_history_shows_the_result()
    {
        var (_, mod, member, memberBox) = await RoomAsync("lobby", isPrivate: false);
        var typo = (await member.SendToRoomAsync("lobby", "helo", None)).Value;
        var other = (await mod.SendToRoomAsync("lobby", "by mod", None)).Value;

        await AssertRefusedAsync(mod.EditAsync("lobby", typo, "hijacked", None), "forbidden", "lobby");
        await AssertRefusedAsync(member.DeleteAsync("lobby", other, None), "forbidden", "lobby");
        await AssertRefusedAsync(member.EditAsync("lobby", 9999, "nothing", None), "message_not_found", "lobby");
        Assert.That((await member.EditAsync("lobby", typo, "", None)).Error?.Code, Is.EqualTo("empty_message"));

        clock.Advance(TimeSpan.FromSeconds(30));
        var edited = await member.EditAsync("lobby", typo, "hello", None);
        Assert.That(edited.Error, Is.Null);
        var editEvent = await NextEventAsync(memberBox, RoomEventKind.Edit);
        Assert.That((editEvent.RefersTo, editEvent.Text, editEvent.Id), Is.EqualTo(((long?)typo, "hello", edited.Value)));

        Assert.That((await mod.DeleteAsync("lobby", typo, None)).Error, Is.Null, "a moderator deletes anyone's message");
        Assert.That((await member.SendToRoomAsync("lobby", "spam", None)).Error, Is.Null);
        var spam = await LastIdAsync("lobby");
        Assert.That((await member.DeleteAsync("lobby", spam, None)).Error, Is.Null, "an author deletes their own");
        await AssertRefusedAsync(member.EditAsync("lobby", spam, "undo", None), "message_not_found", "lobby");
        await AssertRefusedAsync(member.EditAsync("lobby", edited.Value, "an event", None), "message_not_found", "lobby");

        var history = (await member.RoomHistoryAsync("lobby", new HistoryQuery(null, null, 50), None)).Value!;
        var first = history.Single(m => m.Id == typo);
        Assert.That((first.Deleted, first.Text), Is.EqualTo((true, "")));
        Assert.That(history.Single(m => m.Id == other).Text, Is.EqualTo("by mod"));
        Assert.That(history.Select(m => m.Id), Is.Ordered.Ascending);
    }

    [Test]
    public async Task An_edited_message_reads_edited_in_history_with_its_time()
    {
        var (_, _, member, _) = await RoomAsync("lobby", isPrivate: false);
        var id = (await member.SendToRoomAsync("lobby", "helo", None)).Value;
        clock.Advance(TimeSpan.FromSeconds(42));
        Assert.That((await member.EditAsync("lobby", id, "hello", None)).Error, Is.Null);
        var message = (await member.RoomHistoryAsync("lobby", new HistoryQuery(null, null, 50), None)).Value!.Single(m => m.Id == id);
        Assert.That((message.Text, message.EditedAt, message.Timestamp), Is.EqualTo(("hello", (DateTimeOffset?)(T0 + TimeSpan.FromSeconds(42)), T0)));
    }

    private static async Task<RoomMessage> NextEventAsync(RecordingOutbox outbox, string kind)
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
