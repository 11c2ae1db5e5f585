using System.Text.Json;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Acceptance;

/// <summary>Issue 15's user stories over real WebSockets against the real host (SQLite): private rooms, moderation, topics, edits.</summary>
[TestFixture]
public sealed class RoomStoriesTests
{
    private TestServer server = null!;

    [SetUp]
    public async Task StartServer() => server = await TestServer.StartAsync();

    [TearDown]
    public async Task StopServer() => await server.DisposeAsync();

    private static string Code(JsonElement reply) => reply.TryGetProperty("code", out var code) ? code.GetString()! : "(no error: " + reply + ")";

    private static Task<JsonElement> EventAsync(ChatSocket socket, string kind) =>
        socket.ExpectAsync(f => f.TryGetProperty("event", out var e) && e.GetString() == kind);

    // The actor is a member too: its copy of the broadcast event may come before or after the reply to its frame.
    private static async Task<(JsonElement Reply, JsonElement Event)> ActAsync(ChatSocket socket, Dictionary<string, object?> frame, string kind)
    {
        frame["ref"] = "act";
        await socket.SendAsync(frame);
        JsonElement? reply = null, announced = null;
        for (var i = 0; i < 20 && (reply is null || announced is null); i++)
        {
            var next = await socket.ExpectAsync(f => f.TryGetProperty("ref", out _) || (f.TryGetProperty("event", out var e) && e.GetString() == kind));
            if (next.TryGetProperty("ref", out _))
            {
                reply = next;
            }
            else
            {
                announced = next;
            }
        }

        return (reply!.Value, announced!.Value);
    }

    [Test]
    public async Task As_foo_user_I_create_a_private_room_and_invite_bar_user_and_a_third_user_can_neither_see_nor_join_it()
    {
        var bazToken = await server.RegisterAsync("baz_user");
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await using var baz = await server.ConnectAsync(bazToken);

        Assert.That((await foo.RequestAsync(Frame(("command", "create"), ("room", "plans"), ("private", true)))).GetProperty("success").GetString(), Is.EqualTo("plans has been created!"));
        var fooJoin = await foo.RequestAsync(Frame(("command", "join"), ("room", "plans")));
        Assert.That((fooJoin.GetProperty("private").GetBoolean(), fooJoin.GetProperty("role").GetString()), Is.EqualTo((true, "admin")), "foo_user, the first seed user, is a server admin");

        Assert.That(Code(await bar.RequestAsync(Frame(("command", "join"), ("room", "plans")))), Is.EqualTo("not_invited"));
        var (invited, invite) = await ActAsync(foo, Frame(("command", "invite"), ("room", "plans"), ("user", "bar_user")), "invite");
        Assert.That(invited.GetProperty("ok").GetBoolean(), Is.True);
        Assert.That((invite.GetProperty("user").GetString(), invite.GetProperty("from").GetString(), invite.GetProperty("id").GetInt64()), Is.EqualTo(("bar_user", "foo_user", invited.GetProperty("id").GetInt64())));

        var barJoin = await bar.RequestAsync(Frame(("command", "join"), ("room", "plans")));
        Assert.That((barJoin.GetProperty("private").GetBoolean(), barJoin.GetProperty("role").GetString()), Is.EqualTo((true, "member")));
        var barRooms = await bar.RequestAsync(Frame(("command", "rooms")));
        Assert.That(barRooms.GetProperty("rooms").EnumerateArray().Select(r => r.GetString()), Does.Contain("plans"));

        var bazRooms = await baz.RequestAsync(Frame(("command", "rooms")));
        Assert.That(bazRooms.GetProperty("rooms").EnumerateArray().Select(r => r.GetString()), Does.Not.Contain("plans"));
        Assert.That(bazRooms.GetProperty("details").EnumerateArray().Select(r => r.GetProperty("room").GetString()), Does.Not.Contain("plans"));
        Assert.That(Code(await baz.RequestAsync(Frame(("command", "join"), ("room", "plans")))), Is.EqualTo("not_invited"));
        Assert.That(Code(await baz.RequestAsync(Frame(("command", "history"), ("room", "plans")))), Is.EqualTo("room_not_found"));
        Assert.That(Code(await baz.RequestAsync(Frame(("command", "who"), ("room", "plans")))), Is.EqualTo("not_a_member"));
        Assert.That(Code(await baz.RequestAsync(Frame(("room", "plans"), ("message", "let me in")))), Is.EqualTo("not_a_member"));
        Assert.That(Code(await bar.RequestAsync(Frame(("command", "invite"), ("room", "plans"), ("user", "baz_user")))), Is.EqualTo("forbidden"), "members do not invite");
    }

    [Test]
    public async Task As_a_moderator_I_ban_a_spammer_whose_next_message_is_refused_and_who_cannot_rejoin_until_unbanned()
    {
        var spamToken = await server.RegisterAsync("spammer");
        await using var bar = await server.ConnectAsync("bar_token");
        await using var spammer = await server.ConnectAsync(spamToken);
        await bar.RequestAsync(Frame(("command", "create"), ("room", "team")));
        await bar.RequestAsync(Frame(("command", "join"), ("room", "team")));
        await spammer.RequestAsync(Frame(("command", "join"), ("room", "team")));

        Assert.That(Code(await spammer.RequestAsync(Frame(("command", "ban"), ("room", "team"), ("user", "bar_user")))), Is.EqualTo("forbidden"));
        Assert.That(Code(await spammer.RequestAsync(Frame(("command", "topic"), ("room", "team"), ("topic", "buy now")))), Is.EqualTo("forbidden"));

        var muted = await bar.RequestAsync(Frame(("command", "mute"), ("room", "team"), ("user", "spammer"), ("seconds", 600)));
        Assert.That(muted.GetProperty("ok").GetBoolean(), Is.True);
        var muteEvent = await EventAsync(spammer, "mute");
        Assert.That(DateTimeOffset.Parse(muteEvent.GetProperty("until").GetString()!), Is.EqualTo(DateTimeOffset.UtcNow.AddMinutes(10)).Within(TimeSpan.FromMinutes(1)));
        Assert.That(Code(await spammer.RequestAsync(Frame(("room", "team"), ("message", "BUY NOW")))), Is.EqualTo("muted"));

        var banned = await bar.RequestAsync(Frame(("command", "ban"), ("room", "team"), ("user", "spammer")));
        var banEvent = await EventAsync(spammer, "ban");
        Assert.That(banEvent.GetProperty("id").GetInt64(), Is.EqualTo(banned.GetProperty("id").GetInt64()));
        Assert.That(banEvent.GetProperty("id").GetInt64(), Is.EqualTo(muteEvent.GetProperty("id").GetInt64() + 1), "events carry ids in the room's order");
        Assert.That(Code(await spammer.RequestAsync(Frame(("room", "team"), ("message", "still here?")))), Is.EqualTo("not_a_member"));
        Assert.That(Code(await spammer.RequestAsync(Frame(("command", "join"), ("room", "team")))), Is.EqualTo("banned"));

        var history = await bar.RequestAsync(Frame(("command", "history"), ("room", "team")));
        Assert.That(history.GetProperty("history").EnumerateArray().Select(m => m.TryGetProperty("event", out var e) ? e.GetString() : "message"), Is.EqualTo(new[] { "mute", "ban" }));

        await bar.RequestAsync(Frame(("command", "unban"), ("room", "team"), ("user", "spammer")));
        Assert.That((await spammer.RequestAsync(Frame(("command", "join"), ("room", "team")))).GetProperty("room").GetString(), Is.EqualTo("team"));
    }

    [Test]
    public async Task As_an_author_I_edit_a_message_and_a_member_who_was_offline_sees_the_edited_text_in_history()
    {
        var bazToken = await server.RegisterAsync("baz_user");
        await using (var baz = await server.ConnectAsync(bazToken))
        {
            await baz.RequestAsync(Frame(("command", "join")));
        }

        await using var bar = await server.ConnectAsync("bar_token");
        await bar.RequestAsync(Frame(("command", "join")));
        var sent = await bar.RequestAsync(Frame(("room", "default"), ("message", "meeting at 10")));
        var id = sent.GetProperty("id").GetInt64();
        await bar.RequestAsync(Frame(("room", "default"), ("message", "oops, wrong room")));
        var wrong = id + 1;

        var (edited, edit) = await ActAsync(bar, Frame(("command", "edit"), ("room", "default"), ("id", id), ("message", "meeting at 11")), "edit");
        Assert.That(edited.GetProperty("ok").GetBoolean(), Is.True);
        Assert.That((edit.GetProperty("message_id").GetInt64(), edit.GetProperty("message").GetString()), Is.EqualTo((id, "meeting at 11")));
        await bar.RequestAsync(Frame(("command", "delete"), ("room", "default"), ("id", wrong)));

        await using var foo = await server.ConnectAsync("foo_token");
        await foo.RequestAsync(Frame(("command", "join")));
        Assert.That(Code(await foo.RequestAsync(Frame(("command", "edit"), ("room", "default"), ("id", id), ("message", "mine")))), Is.EqualTo("forbidden"));
        Assert.That(Code(await bar.RequestAsync(Frame(("command", "edit"), ("room", "default"), ("message", "no id")))), Is.EqualTo("bad_request"));

        await using var later = await server.ConnectAsync(bazToken);
        var page = (await later.RequestAsync(Frame(("command", "history"), ("room", "default")))).GetProperty("history").EnumerateArray().ToList();
        var message = page.Single(m => m.GetProperty("id").GetInt64() == id);
        Assert.That(message.GetProperty("message").GetString(), Is.EqualTo("meeting at 11"));
        Assert.That(DateTimeOffset.Parse(message.GetProperty("edited").GetString()!), Is.GreaterThanOrEqualTo(DateTimeOffset.Parse(message.GetProperty("ts").GetString()!)));
        var tombstone = page.Single(m => m.GetProperty("id").GetInt64() == wrong);
        Assert.That(tombstone.GetProperty("deleted").GetBoolean(), Is.True);
        Assert.That(tombstone.TryGetProperty("message", out _), Is.False, "a tombstone has no text");
        Assert.That(page.Select(m => m.GetProperty("id").GetInt64()), Is.Ordered.Ascending);
    }

    [Test]
    public async Task A_topic_set_by_a_moderator_is_broadcast_and_part_of_the_next_join_reply()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await foo.RequestAsync(Frame(("command", "create"), ("room", "news")));
        await foo.RequestAsync(Frame(("command", "join"), ("room", "news")));
        await bar.RequestAsync(Frame(("command", "join"), ("room", "news")));
        await foo.RequestAsync(Frame(("command", "role"), ("room", "news"), ("user", "bar_user"), ("role", "moderator")));
        var info = await bar.RequestAsync(Frame(("command", "info"), ("room", "news")));
        Assert.That((info.GetProperty("role").GetString(), info.GetProperty("owner").GetString()), Is.EqualTo(("moderator", "foo_user")));

        await bar.RequestAsync(Frame(("command", "topic"), ("room", "news"), ("topic", "launch day")));
        Assert.That((await EventAsync(foo, "topic")).GetProperty("topic").GetString(), Is.EqualTo("launch day"));

        var bazToken = await server.RegisterAsync("baz_user");
        await using var baz = await server.ConnectAsync(bazToken);
        var joined = await baz.RequestAsync(Frame(("command", "join"), ("room", "news")));
        Assert.That(joined.GetProperty("topic").GetString(), Is.EqualTo("launch day"));
    }

    [Test]
    public async Task The_first_seed_user_is_a_server_admin_who_moderates_any_room()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await bar.RequestAsync(Frame(("command", "create"), ("room", "bars"), ("private", true)));
        await bar.RequestAsync(Frame(("command", "join"), ("room", "bars")));
        var rooms = await foo.RequestAsync(Frame(("command", "rooms")));
        Assert.That(rooms.GetProperty("rooms").EnumerateArray().Select(r => r.GetString()), Does.Contain("bars"));
        var topic = await foo.RequestAsync(Frame(("command", "topic"), ("room", "bars"), ("topic", "admin says hi")));
        Assert.That(topic.GetProperty("ok").GetBoolean(), Is.True);
        Assert.That((await EventAsync(bar, "topic")).GetProperty("from").GetString(), Is.EqualTo("foo_user"));
    }

    [Test]
    public async Task A_server_admin_deletes_a_room_and_its_online_members_lose_it_while_nobody_else_can()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await bar.RequestAsync(Frame(("command", "create"), ("room", "gone")));
        await bar.RequestAsync(Frame(("command", "join"), ("room", "gone")));
        Assert.That(Code(await bar.RequestAsync(Frame(("command", "delete_room"), ("room", "gone")))), Is.EqualTo("forbidden"), "the owner is not a server admin");
        Assert.That(Code(await foo.RequestAsync(Frame(("command", "delete_room"), ("room", "default")))), Is.EqualTo("invalid_target"));
        Assert.That(Code(await foo.RequestAsync(Frame(("command", "delete_room")))), Is.EqualTo("bad_request"));

        var deleted = await foo.RequestAsync(Frame(("command", "delete_room"), ("room", "gone")));
        Assert.That((deleted.GetProperty("ok").GetBoolean(), deleted.GetProperty("room").GetString()), Is.EqualTo((true, "gone")));
        var rooms = await bar.RequestAsync(Frame(("command", "rooms")));
        Assert.That(rooms.GetProperty("rooms").EnumerateArray().Select(r => r.GetString()), Does.Not.Contain("gone"));
        Assert.That(rooms.GetProperty("joined").EnumerateArray().Select(r => r.GetString()), Does.Not.Contain("gone"));
        Assert.That(Code(await foo.RequestAsync(Frame(("command", "delete_room"), ("room", "gone")))), Is.EqualTo("room_not_found"));
    }
}
