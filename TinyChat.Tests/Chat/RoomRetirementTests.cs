using TinyChat.Chat;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Chat;

/// <summary>
/// Idle rooms retire (<c>Runtime:IdleRoomSeconds</c>) and start again on demand with everything their loop loads
/// from the store; a command that meets a retiring loop goes to its successor; users without a connection hold
/// nothing. Time is a <see cref="ManualClock"/>: a room retires only when the test says it has been idle.
/// </summary>
public sealed class RoomRetirementTests
{
    private static readonly CancellationToken None = CancellationToken.None;
    private static readonly TimeSpan Idle = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private ManualClock clock = null!;
    private ChatCore core = null!;
    private readonly List<ChatClient> clients = [];

    [SetUp]
    public async Task Start()
    {
        clock = new ManualClock();
        core = await ChatCore.StartAsync(
            clock,
            new ChatLimits(4000, 64, 64) { IdleRoomAfter = Idle, MessagesPerSecond = 1000, MessageBurst = 10000 },
            "owner",
            "mod",
            "member",
            "outsider");
    }

    [TearDown]
    public async Task Stop()
    {
        foreach (var client in clients)
        {
            await client.DisposeAsync();
        }

        await core.DisposeAsync();
    }

    // A request client (an HTTP API call): acts as the user without making the user online, so rooms can retire.
    private async Task<ChatClient> AsAsync(string user)
    {
        var admitted = await core.Server.AdmitAsync(user + "_token", None);
        Assert.That(admitted.Error, Is.Null);
        var client = await admitted.Value!.ConnectRequestAsync(None);
        clients.Add(client);
        return client;
    }

    private RoomDirectory Rooms => core.Server.Rooms;

    // Lets the room be idle for longer than the idle time and waits until its loop has ended and left its name.
    private async Task RetireAsync(string room)
    {
        var running = Rooms.TryFindLive(room);
        Assert.That(running, Is.Not.Null, $"{room} runs before it retires");
        var retired = Rooms.Retired;
        clock.Advance(Idle + TimeSpan.FromSeconds(1));
        Assert.That(core.Server.ForgetIdle(), Is.GreaterThanOrEqualTo(1));
        await running!.Ended.WaitAsync(Timeout);
        Assert.That(Rooms.Retired, Is.EqualTo(retired + 1));
        Assert.That(Rooms.TryFindLive(room), Is.Null, "a retired room holds no loop");
    }

    private static void Ok<T>(Outcome<T> outcome) => Assert.That(outcome.Error, Is.Null, outcome.Error?.Message);

    private static void Refused<T>(Outcome<T> outcome, string code) => Assert.That(outcome.Error?.Code, Is.EqualTo(code), outcome.Error?.Message);

    [Test]
    public async Task A_retired_room_keeps_its_members_and_its_ids_continue()
    {
        var owner = await AsAsync("owner");
        var member = await AsAsync("member");
        Assert.That(await owner.CreateAsync("ops", None), Is.Null);
        Ok(await owner.JoinAsync("ops", None));
        Ok(await member.JoinAsync("ops", None));
        Ok(await owner.SendToRoomAsync("ops", "one", None));
        var second = await member.SendToRoomAsync("ops", "two", None);

        await RetireAsync("ops");

        var third = await member.SendToRoomAsync("ops", "three", None);
        Assert.That(third.Value, Is.EqualTo(second.Value + 1), "ids continue where they were");
        Refused(await (await AsAsync("outsider")).SendToRoomAsync("ops", "me too", None), "not_a_member");
        Refused(await member.JoinAsync("ops", None), "already_joined");
        Ok(await member.WhoAsync("ops", None));
        Assert.That(Rooms.TryFindLive("ops"), Is.Not.Null, "started again on demand");
    }

    [Test]
    public async Task The_rooms_created_quota_holds_across_retirement_with_nothing_kept_per_user_in_memory()
    {
        await using var quota = await ChatCore.StartAsync(clock, new ChatLimits(4000, 64, 64) { IdleRoomAfter = Idle, MaxRoomsCreatedPerUser = 2 }, "owner");
        var admitted = await quota.Server.AdmitAsync("owner_token", None);
        await using var owner = await admitted.Value!.ConnectRequestAsync(None);
        Assert.That(await owner.CreateAsync("one", None), Is.Null);
        Assert.That(await owner.CreateAsync("two", None), Is.Null);
        Ok(await owner.JoinAsync("one", None));
        Ok(await owner.SendToRoomAsync("one", "hi", None));
        var running = quota.Server.Rooms.TryFindLive("one")!;

        clock.Advance(Idle + TimeSpan.FromSeconds(1));
        quota.Server.ForgetIdle();
        await running.Ended.WaitAsync(Timeout);

        Assert.That(quota.Server.Rooms.Running, Is.Zero);
        Assert.That((await owner.CreateAsync("three", None))?.Code, Is.EqualTo("room_quota"));
    }

    [Test]
    public async Task A_retired_private_room_stays_private_and_keeps_its_invitations()
    {
        var owner = await AsAsync("owner");
        Assert.That(await owner.CreateAsync("den", isPrivate: true, None), Is.Null);
        Ok(await owner.JoinAsync("den", None));
        Ok(await owner.InviteAsync("den", "member", None));

        await RetireAsync("den");

        Refused(await (await AsAsync("outsider")).JoinAsync("den", None), "not_invited");
        Ok(await (await AsAsync("member")).JoinAsync("den", None));
        Assert.That((await owner.DescribeAsync("den", None)).Value!.IsPrivate, Is.True);
    }

    [Test]
    public async Task A_retired_room_keeps_its_owner_topic_and_moderators()
    {
        var owner = await AsAsync("owner");
        var mod = await AsAsync("mod");
        Assert.That(await owner.CreateAsync("ops", None), Is.Null);
        Ok(await owner.JoinAsync("ops", None));
        Ok(await mod.JoinAsync("ops", None));
        Ok(await (await AsAsync("member")).JoinAsync("ops", None));
        Ok(await owner.SetTopicAsync("ops", "deploys only", None));
        Ok(await owner.SetRoleAsync("ops", "mod", RoomRole.Moderator, None));

        await RetireAsync("ops");

        var details = (await mod.DescribeAsync("ops", None)).Value!;
        Assert.That((details.Owner, details.Topic, details.Moderators, details.YourRole), Is.EqualTo(("owner", "deploys only", (IReadOnlyList<string>)["mod"], RoomRole.Moderator)));
        Ok(await mod.KickAsync("ops", "member", None));
        Refused(await mod.SetRoleAsync("ops", "member", RoomRole.Moderator, None), "forbidden");
        Ok(await owner.SetRoleAsync("ops", "mod", RoomRole.Member, None));
    }

    [Test]
    public async Task A_retired_room_keeps_its_bans()
    {
        var owner = await AsAsync("owner");
        Assert.That(await owner.CreateAsync("ops", None), Is.Null);
        Ok(await owner.JoinAsync("ops", None));
        Ok(await owner.BanAsync("ops", "outsider", None));

        await RetireAsync("ops");

        Refused(await (await AsAsync("outsider")).JoinAsync("ops", None), "banned");
    }

    [Test]
    public async Task A_retired_room_keeps_its_mutes()
    {
        var owner = await AsAsync("owner");
        var member = await AsAsync("member");
        Assert.That(await owner.CreateAsync("ops", None), Is.Null);
        Ok(await owner.JoinAsync("ops", None));
        Ok(await member.JoinAsync("ops", None));
        Ok(await owner.MuteAsync("ops", "member", TimeSpan.FromMinutes(10), None));

        await RetireAsync("ops");

        Refused(await member.SendToRoomAsync("ops", "let me talk", None), "muted");
    }

    [Test]
    public async Task A_room_with_a_member_online_here_does_not_retire_until_the_member_leaves()
    {
        var owner = await AsAsync("owner");
        Ok(await owner.JoinAsync(null, None));
        var (alice, _) = await core.ConnectAsync("member");
        Ok(await alice.JoinAsync(null, None));
        var room = Rooms.TryFindLive(ChatNames.DefaultRoom)!;

        clock.Advance(Idle * 2);
        core.Server.ForgetIdle();
        var who = await alice.WhoAsync(ChatNames.DefaultRoom, None);
        Assert.That((Rooms.Retired, Rooms.TryFindLive(ChatNames.DefaultRoom)), Is.EqualTo((0L, room)), "a member is online here");
        Ok(who);

        // The session gives up its name before it tells the room, so "not running" does not mean the room knows:
        // wait for the session's end (the notice is queued by then), then ask the room, which answers after it.
        // A departure the room handled only after the clock moved would count as use and keep the room.
        var session = core.Server.Sessions.Live.Single(s => s.User == "member");
        await alice.DisposeAsync();
        await session.Ended.WaitAsync(Timeout);
        var after = await owner.WhoAsync(ChatNames.DefaultRoom, None);
        Assert.That(after.Value!.Online.Select(e => e.User), Has.No.Member("member"));
        await RetireAsync(ChatNames.DefaultRoom);
    }

    [Test]
    public async Task A_room_in_use_does_not_retire()
    {
        var member = await AsAsync("member");
        Ok(await member.JoinAsync(null, None));
        clock.Advance(Idle - TimeSpan.FromSeconds(1));
        Ok(await member.SendToRoomAsync(ChatNames.DefaultRoom, "still here", None));
        clock.Advance(TimeSpan.FromSeconds(2));

        Assert.That(core.Server.ForgetIdle(), Is.Zero, "used within the idle time");
        Assert.That(Rooms.Retired, Is.Zero);
    }

    [Test]
    public async Task Commands_that_meet_a_retiring_room_go_to_its_successor_never_lost_never_unavailable()
    {
        const int Rounds = 5;
        const int Capacity = 64;
        const int Latecomers = 12;
        var owner = await AsAsync("owner");
        var member = await AsAsync("member");
        Ok(await owner.JoinAsync(null, None));
        Ok(await member.JoinAsync(null, None));
        var holder = new LoopHolder();
        using var subscription = core.Server.Bus.Subscribe(ChatTopic.Room(ChatNames.DefaultRoom), holder);
        var acknowledged = new List<Task<Outcome<long>>>();
        var questions = new List<Task<Outcome<PresenceState>>>();

        for (var round = 0; round < Rounds; round++)
        {
            // The loop is held inside its first post's delivery (a subscriber of the room's topic that waits), so
            // the test decides what is in its mailbox when it handles the retirement.
            holder.Arm();
            acknowledged.Add(await QueuedAsync(owner, $"round {round} first"));
            await holder.Entered.WaitAsync(Timeout);
            var retiring = Rooms.TryFindLive(ChatNames.DefaultRoom)!;
            clock.Advance(Idle + TimeSpan.FromSeconds(1));
            Assert.That(core.Server.ForgetIdle(), Is.EqualTo(1), "the room is asked to retire");

            // Queued behind the retirement: the retiring loop answers them before it ends.
            for (var i = 1; i < Capacity; i++)
            {
                acknowledged.Add(await QueuedAsync(i % 2 == 0 ? owner : member, $"round {round} queued {i}"));
            }

            Assert.That(retiring.MailboxDepth, Is.EqualTo(Capacity), "the mailbox is full");

            // Found the loop before it closed and wait for mailbox space: the retirement refuses them (the closed
            // mailbox), and each must be taken by the successor instead. The calls return once the post waits.
            var waiting = new List<Task<Outcome<Task<Outcome<long>>>>>();
            for (var i = 0; i < Latecomers; i++)
            {
                if (i % 3 == 2)
                {
                    questions.Add(member.WhoAsync(ChatNames.DefaultRoom, None));
                }
                else
                {
                    waiting.Add(member.QueueToRoomAsync(ChatNames.DefaultRoom, $"round {round} late {i}", None));
                }
            }

            Assert.That(waiting.Any(t => t.IsCompleted), Is.False, "the late posts wait for mailbox space");
            var handedOver = Rooms.HandedOver;
            holder.Release();
            foreach (var late in waiting)
            {
                var queued = await late.WaitAsync(Timeout);
                Assert.That(queued.Error, Is.Null, $"round {round}: {queued.Error?.Code} {queued.Error?.Message}");
                acknowledged.Add(queued.Value!);
            }

            await retiring.Ended.WaitAsync(Timeout);
            await Task.WhenAll(questions).WaitAsync(Timeout);
            // Taking the retirement out of the full mailbox lets the first waiting writer in (the retiring loop answers
            // it); every other one meets the closed mailbox.
            Assert.That(Rooms.HandedOver - handedOver, Is.EqualTo(Latecomers - 1), "the late commands met the closed mailbox and went to the successor");
            Assert.That(Rooms.TryFindLive(ChatNames.DefaultRoom), Is.Not.SameAs(retiring).And.Not.Null, "the successor runs");
        }

        Assert.That(Rooms.Retired, Is.EqualTo(Rounds));
        foreach (var question in questions)
        {
            var who = await question.WaitAsync(Timeout);
            Assert.That(who.Error, Is.Null, $"{who.Error?.Code} {who.Error?.Message}");
        }

        var ids = new List<long>();
        foreach (var post in acknowledged)
        {
            var outcome = await post.WaitAsync(Timeout);
            Assert.That(outcome.Error, Is.Null, $"{outcome.Error?.Code} {outcome.Error?.Message}");
            ids.Add(outcome.Value);
        }

        var total = acknowledged.Count;
        Assert.That(ids.Order(), Is.EqualTo(Enumerable.Range(1, total).Select(i => (long)i)), "every post acknowledged once, no id skipped");
        var stored = await core.Store.RoomHistoryAsync(ChatNames.DefaultRoom, new HistoryQuery(null, 0, total + 10), None);
        Assert.That(stored.Select(m => m.Id), Is.EqualTo(Enumerable.Range(1, total).Select(i => (long)i)), "every acknowledged post is stored");
    }

    [Test]
    public async Task A_member_who_joins_while_the_room_retires_keeps_hearing_it_from_a_successor_started_at_once()
    {
        var owner = await AsAsync("owner");
        Ok(await owner.JoinAsync(null, None));
        var (listener, box) = await core.ConnectAsync("member");
        clients.Add(listener);
        var holder = new LoopHolder();
        using var subscription = core.Server.Bus.Subscribe(ChatTopic.Room(ChatNames.DefaultRoom), holder);
        holder.Arm();
        var first = await QueuedAsync(owner, "first");
        await holder.Entered.WaitAsync(Timeout);
        var retiring = Rooms.TryFindLive(ChatNames.DefaultRoom)!;
        clock.Advance(Idle + TimeSpan.FromSeconds(1));
        Assert.That(core.Server.ForgetIdle(), Is.EqualTo(1));

        // Queued behind the retirement: the retiring loop takes the member in (online here), then ends.
        var join = listener.JoinAsync(null, None);
        using (var limit = new CancellationTokenSource(Timeout))
        {
            while (retiring.MailboxDepth < 2)
            {
                await Task.Delay(5, limit.Token);
            }
        }

        holder.Release();
        Ok(await join.WaitAsync(Timeout));
        await retiring.Ended.WaitAsync(Timeout);
        var successor = Rooms.TryFindLive(ChatNames.DefaultRoom);
        Assert.That(successor, Is.Not.Null.And.Not.SameAs(retiring), "a successor runs at once for the member online here");
        Assert.That(Rooms.Retired, Is.EqualTo(1));

        Assert.That((await first.WaitAsync(Timeout)).Value, Is.EqualTo(1));
        var second = await owner.SendToRoomAsync(ChatNames.DefaultRoom, "second", None);
        var heard = await box.NextAsync<RoomMessage>();
        Assert.That((heard.Id, heard.Text), Is.EqualTo((second.Value, "second")));
        Assert.That(second.Value, Is.EqualTo(2));
    }

    private static async Task<Task<Outcome<long>>> QueuedAsync(ChatClient client, string text)
    {
        var queued = await client.QueueToRoomAsync(ChatNames.DefaultRoom, text, None);
        Assert.That(queued.Error, Is.Null, queued.Error?.Message);
        return queued.Value!;
    }

    [Test]
    public async Task A_user_without_a_connection_holds_no_session_and_its_refilled_budget_is_forgotten()
    {
        var (alice, _) = await core.ConnectAsync("member");
        Ok(await alice.JoinAsync(null, None));
        Ok(await alice.SendToRoomAsync(ChatNames.DefaultRoom, "hi", None));
        Assert.That(core.Server.Sessions.IsRunning("member"), Is.True);
        core.Server.ForgetIdle();
        Assert.That(core.Server.BudgetsKept, Is.EqualTo(1), "a connected user keeps its budget");

        await alice.DisposeAsync();
        await WaitUntilAsync(() => !core.Server.Sessions.IsRunning("member"));
        core.Server.ForgetIdle();
        Assert.That(core.Server.BudgetsKept, Is.EqualTo(1), "a spent budget is kept until it has refilled (else reconnecting would refill it)");

        clock.Advance(TimeSpan.FromSeconds(2));
        core.Server.ForgetIdle();
        Assert.That((core.Server.Sessions.OnlineUsers, core.Server.BudgetsKept), Is.EqualTo((0, 0)));
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        using var limit = new CancellationTokenSource(Timeout);
        while (!condition())
        {
            await Task.Delay(10, limit.Token);
        }
    }
}
