using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using TinyChat.Chat;
using TinyChat.Storage.InMemory;
using TinyChat.Tests.Support;
using TinyChat.Web;

namespace TinyChat.Tests.Phoenix;

/// <summary>User stories driven by the real npm <c>phoenix</c> client (Node), next to native WebSocket clients.</summary>
[Category("Process")]
public sealed class PhoenixClientTests
{
    private static readonly Dictionary<string, object?> JoinDefault = new() { ["command"] = "join" };

    [TestCase("params")]
    [TestCase("authToken")]
    public async Task A_phoenix_client_and_a_native_client_chat_in_one_room(string auth)
    {
        await using var server = await TestServer.StartAsync();
        await using var phoenix = PhoenixNodeClient.Start(server.BaseUri, "foo_token", new Dictionary<string, string> { ["AUTH"] = auth });
        Assert.That((await phoenix.JoinedAsync()).GetProperty("status").GetString(), Is.EqualTo("ok"));
        await using var native = await server.ConnectAsync("bar_token");
        await native.RequestAsync(new(JoinDefault));

        var reply = await phoenix.PushAsync("room:default", "new_msg", new { body = "hello from phoenix" });
        Assert.That(reply.GetProperty("status").GetString(), Is.EqualTo("ok"));
        var id = reply.GetProperty("response").GetProperty("id").GetInt64();
        var seen = await native.ExpectAsync(f => f.TryGetProperty("message", out var m) && m.GetString() == "hello from phoenix");
        Assert.That(seen.GetProperty("from").GetString(), Is.EqualTo("foo_user"));
        Assert.That(seen.GetProperty("id").GetInt64(), Is.EqualTo(id));

        await native.RequestAsync(new() { ["room"] = "default", ["message"] = "hello from native" });
        var message = (await phoenix.MessageAsync("hello from native")).GetProperty("payload");
        Assert.That(message.GetProperty("user").GetString(), Is.EqualTo("bar_user"));
        Assert.That(message.GetProperty("id").GetInt64(), Is.EqualTo(id + 1));
        Assert.That(message.GetProperty("inserted_at").GetString(), Does.EndWith("Z"));
    }

    [TestCase("wrong_token")]
    [TestCase("")]
    public async Task A_bad_or_missing_token_is_refused(string token)
    {
        await using var server = await TestServer.StartAsync();
        await using var phoenix = PhoenixNodeClient.Start(server.BaseUri, token, new Dictionary<string, string> { ["RECONNECT_MS"] = "60000" });

        var error = await phoenix.ExpectAsync("error");
        Assert.That(error.GetProperty("error").GetString(), Does.Contain("401"));
        Assert.That(phoenix.Seen.Any(l => l.GetProperty("event").GetString() is "open" or "joined"), Is.False, phoenix.Log);
    }

    [Test]
    public async Task In_a_big_room_phoenix_gets_an_empty_presence_and_the_count_and_pages_with_who()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string>
        {
            ["Presence:FullStateMaxMembers"] = "2",
            ["Presence:TickMilliseconds"] = "50",
        });
        await using var phoenix = PhoenixNodeClient.Start(server.BaseUri, "foo_token");
        await phoenix.JoinedAsync();
        await phoenix.PresenceAsync(users => users.Count == 1);
        await using var bar = await server.ConnectAsync("bar_token");
        await bar.RequestAsync(new(JoinDefault));
        await phoenix.PresenceAsync(users => users.Count == 2);

        // A third online: phoenix.js's list empties (everyone listed leaves) and the count takes over.
        await using var carol = await server.ConnectAsync(await server.RegisterAsync("carol"));
        await carol.RequestAsync(new(JoinDefault));
        var count = await phoenix.ExpectAsync("presence_count", l => l.GetProperty("payload").GetProperty("online").GetInt32() == 3);
        Assert.That(count.GetProperty("topic").GetString(), Is.EqualTo("room:default"));
        await phoenix.PresenceAsync(users => users.Count == 0);

        var page = await phoenix.PushAsync("room:default", "who", new { limit = 2 });
        Assert.That(page.GetProperty("status").GetString(), Is.EqualTo("ok"), page.ToString());
        var response = page.GetProperty("response");
        Assert.That(response.GetProperty("presences").EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "bar_user", "carol" }));
        Assert.That(response.GetProperty("presences").GetProperty("carol").GetProperty("metas").GetArrayLength(), Is.EqualTo(1));
        Assert.That(response.GetProperty("online").GetInt32(), Is.EqualTo(3));
        Assert.That(response.GetProperty("next").GetString(), Is.EqualTo("carol"));
        var bad = await phoenix.PushAsync("room:default", "who", new { limit = 0 });
        Assert.That(bad.GetProperty("status").GetString(), Is.EqualTo("error"));

        // A phoenix client joining the big room: an empty presence_state (Presence syncs) and the count.
        await using var late = PhoenixNodeClient.Start(server.BaseUri, await server.RegisterAsync("dave"));
        await late.JoinedAsync();
        await late.PresenceAsync(users => users.Count == 0);
        await late.ExpectAsync("presence_count", l => l.GetProperty("payload").GetProperty("online").GetInt32() == 4);
    }

    [Test]
    public async Task Presence_lists_both_users_and_drops_one_that_disconnects()
    {
        await using var server = await TestServer.StartAsync();
        await using var phoenix = PhoenixNodeClient.Start(server.BaseUri, "foo_token");
        await phoenix.JoinedAsync();
        await phoenix.PresenceAsync(users => users.Count == 1 && users["foo_user"] == 1);

        var native = await server.ConnectAsync("bar_token");
        await native.RequestAsync(new(JoinDefault));
        await phoenix.PresenceAsync(users => users.Count == 2 && users.ContainsKey("bar_user"));

        await native.DisposeAsync();
        await phoenix.PresenceAsync(users => users.Count == 1 && users.ContainsKey("foo_user"));
    }

    [Test]
    public async Task Two_tabs_of_one_user_are_one_user_with_two_metas()
    {
        await using var server = await TestServer.StartAsync();
        await using var tab1 = PhoenixNodeClient.Start(server.BaseUri, "foo_token");
        await tab1.JoinedAsync();
        await using var tab2 = PhoenixNodeClient.Start(server.BaseUri, "foo_token");
        await tab2.JoinedAsync();
        await using var observer = PhoenixNodeClient.Start(server.BaseUri, "bar_token");
        await observer.JoinedAsync();

        await observer.PresenceAsync(users => users.Count == 2 && users["foo_user"] == 2 && users["bar_user"] == 1);
    }

    [Test]
    public async Task A_second_tab_is_a_presence_diff_join_of_its_meta_and_closing_it_a_leave_of_that_meta()
    {
        await using var server = await TestServer.StartAsync();
        var bazToken = await server.RegisterAsync("baz_user");
        await using var native = await server.ConnectAsync(bazToken);
        await native.RequestAsync(new(JoinDefault));
        await using var observer = PhoenixNodeClient.Start(server.BaseUri, "bar_token");
        await observer.JoinedAsync();
        await using var tab1 = PhoenixNodeClient.Start(server.BaseUri, "foo_token");
        await tab1.JoinedAsync();
        await observer.PresenceAsync(users => users.GetValueOrDefault("foo_user") == 1);
        await tab1.PresenceAsync(users => users.GetValueOrDefault("foo_user") == 1 && users.ContainsKey("bar_user"));

        // The second tab opens while everyone is synced: only a presence_diff can tell them. Each wait looks at
        // syncs after the step only.
        observer.SkipSeen("presence");
        tab1.SkipSeen("presence");
        var tab2 = PhoenixNodeClient.Start(server.BaseUri, "foo_token");
        try
        {
            await tab2.JoinedAsync();
            await observer.PresenceAsync(users => users.GetValueOrDefault("foo_user") == 2);
            await tab1.PresenceAsync(users => users.GetValueOrDefault("foo_user") == 2);
            await tab2.PresenceAsync(users => users.GetValueOrDefault("foo_user") == 2);
            observer.SkipSeen("presence");
            tab1.SkipSeen("presence");
        }
        finally
        {
            await tab2.DisposeAsync();
        }

        // Closing one tab takes its meta away; the user stays, with the other tab's.
        await observer.PresenceAsync(users => users.GetValueOrDefault("foo_user") == 1);
        await tab1.PresenceAsync(users => users.GetValueOrDefault("foo_user") == 1);
        observer.SkipSeen("presence");
        await tab1.SendAsync(new { @do = "quit" });
        await observer.PresenceAsync(users => !users.ContainsKey("foo_user"));

        // The native protocol shows a user once: it saw foo_user come and go, and nothing for the second tab.
        var diffs = new List<string>();
        for (var i = 0; i < 50 && !diffs.Contains("leave"); i++)
        {
            var frame = await native.ReceiveAsync();
            if (frame.TryGetProperty("presence_diff", out var diff))
            {
                diffs.AddRange(diff.GetProperty("joins").EnumerateObject().Where(p => p.Name == "foo_user").Select(_ => "join"));
                diffs.AddRange(diff.GetProperty("leaves").EnumerateObject().Where(p => p.Name == "foo_user").Select(_ => "leave"));
            }
        }

        Assert.That(diffs, Is.EqualTo(new[] { "join", "leave" }));
    }

    [Test]
    public async Task Heartbeats_are_answered()
    {
        await using var server = await TestServer.StartAsync();
        // phoenix.js drops the connection when a heartbeat is unanswered at the next tick, so the interval is also
        // the longest stall of either process the test survives: 50 ms did not hold at a load average of 50 on 2
        // cores, 1 s failed once with two CI runs side by side (a close, then a second open).
        await using var phoenix = PhoenixNodeClient.Start(server.BaseUri, "foo_token", new Dictionary<string, string> { ["HEARTBEAT_MS"] = "3000" });
        await phoenix.JoinedAsync();
        for (var i = 0; i < 2; i++)
        {
            Assert.That((await phoenix.ExpectAsync("heartbeat")).GetProperty("status").GetString(), Is.EqualTo("ok"));
        }

        var closes = phoenix.Seen.Where(l => l.GetProperty("event").GetString() == "close").Select(l => l.ToString()).ToList();
        Assert.That(closes, Is.Empty, "heartbeats keep the one connection");
        Assert.That(phoenix.Seen.Count(l => l.GetProperty("event").GetString() == "open"), Is.EqualTo(1), "heartbeats keep the one connection");
    }

    [Test]
    public async Task After_the_server_drops_the_socket_phoenix_rejoins_and_gets_what_it_missed_exactly_once()
    {
        await using var server = await TestServer.StartAsync();
        await using var phoenix = PhoenixNodeClient.Start(server.BaseUri, "foo_token", new Dictionary<string, string> { ["RECONNECT_MS"] = "3000" });
        await phoenix.JoinedAsync();
        await phoenix.PushAsync("room:default", "new_msg", new { body = "before" });
        await phoenix.MessageAsync("before");

        // The server closes every connection (as an idle sweep would); phoenix.js reconnects on its own.
        server.Services.GetRequiredService<OpenConnections>().CloseIdle(TimeSpan.FromTicks(-1));
        await phoenix.ExpectAsync("close");
        await using var native = await server.ConnectAsync("bar_token");
        await native.RequestAsync(new(JoinDefault));
        for (var i = 1; i <= 3; i++)
        {
            await native.RequestAsync(new() { ["room"] = "default", ["message"] = $"missed {i}" });
        }

        Assert.That(phoenix.Seen.Count(l => l.GetProperty("event").GetString() == "open"), Is.EqualTo(1), "the messages must be sent while phoenix.js is away");
        await phoenix.ExpectAsync("open");
        await phoenix.MessageAsync("missed 3");
        await native.RequestAsync(new() { ["room"] = "default", ["message"] = "live" });
        await phoenix.MessageAsync("live");

        var bodies = phoenix.Seen.Where(l => l.GetProperty("event").GetString() == "msg")
            .Select(l => l.GetProperty("payload").GetProperty("body").GetString()).ToList();
        Assert.That(bodies, Is.EqualTo(new[] { "before", "missed 1", "missed 2", "missed 3", "live" }));
    }

    [Test]
    public async Task Vsn_1_clients_speak_json_objects()
    {
        await using var server = await TestServer.StartAsync();
        await using var v1 = PhoenixNodeClient.Start(server.BaseUri, "foo_token", new Dictionary<string, string> { ["VSN"] = "1.0.0" });
        await using var v2 = PhoenixNodeClient.Start(server.BaseUri, "bar_token");
        Assert.That((await v1.JoinedAsync()).GetProperty("status").GetString(), Is.EqualTo("ok"));
        await v2.JoinedAsync();

        Assert.That((await v1.PushAsync("room:default", "new_msg", new { body = "from v1" })).GetProperty("status").GetString(), Is.EqualTo("ok"));
        await v2.MessageAsync("from v1");
        await v1.MessageAsync("from v1");
        await v2.PushAsync("room:default", "new_msg", new { body = "from v2" });
        await v1.MessageAsync("from v2");
        await v1.PresenceAsync(users => users.Count == 2);
    }

    [Test]
    public async Task Private_messages_arrive_on_the_users_own_topic()
    {
        await using var server = await TestServer.StartAsync();
        await using var phoenix = PhoenixNodeClient.Start(server.BaseUri, "foo_token", new Dictionary<string, string> { ["TOPICS"] = "user:foo_user" });
        Assert.That((await phoenix.JoinedAsync("user:foo_user")).GetProperty("status").GetString(), Is.EqualTo("ok"));
        await using var native = await server.ConnectAsync("bar_token");

        await native.RequestAsync(new() { ["to"] = "foo_user", ["message"] = "psst" });
        var received = (await phoenix.MessageAsync("psst", "user:foo_user")).GetProperty("payload");
        Assert.That(received.GetProperty("user").GetString(), Is.EqualTo("bar_user"));

        var reply = await phoenix.PushAsync("user:foo_user", "new_msg", new { to = "bar_user", body = "hi back" });
        Assert.That(reply.GetProperty("status").GetString(), Is.EqualTo("ok"), phoenix.Log);
        await native.ExpectAsync(f => f.TryGetProperty("message", out var m) && m.GetString() == "hi back");
        await phoenix.MessageAsync("hi back", "user:foo_user");
        await phoenix.SendAsync(new { @do = "join", topic = "user:bar_user" });
        var foreign = await phoenix.JoinedAsync("user:bar_user");
        Assert.That(foreign.GetProperty("response").GetProperty("reason").GetString(), Is.EqualTo("unauthorized"));
    }

    [TestCase("params")]
    [TestCase("authToken")]
    public async Task When_upgrades_are_blocked_phoenix_falls_back_to_long_polling_and_keeps_chatting(string auth)
    {
        await using var server = await TestServer.StartAsync();
        await using var phoenix = PhoenixNodeClient.Start(server.BaseUri, "foo_token", new Dictionary<string, string>
        {
            ["AUTH"] = auth,
            ["BLOCK_WEBSOCKET"] = "1",
            ["FALLBACK_MS"] = "500",
            ["TOPICS"] = "room:default,user:foo_user",
        });
        Assert.That((await phoenix.ExpectAsync("open")).GetProperty("transport").GetString(), Is.EqualTo("LongPoll"));
        Assert.That((await phoenix.JoinedAsync()).GetProperty("status").GetString(), Is.EqualTo("ok"));
        await phoenix.JoinedAsync("user:foo_user");
        await using var native = await server.ConnectAsync("bar_token");
        await native.RequestAsync(new(JoinDefault));
        await phoenix.PresenceAsync(users => users.Count == 2);

        Assert.That((await phoenix.PushAsync("room:default", "new_msg", new { body = "over long poll" })).GetProperty("status").GetString(), Is.EqualTo("ok"));
        await native.ExpectAsync(f => f.TryGetProperty("message", out var m) && m.GetString() == "over long poll");
        await native.RequestAsync(new() { ["room"] = "default", ["message"] = "back to long poll" });
        await phoenix.MessageAsync("back to long poll");
        await native.RequestAsync(new() { ["to"] = "foo_user", ["message"] = "private over long poll" });
        await phoenix.MessageAsync("private over long poll", "user:foo_user");
    }

    [Test]
    public async Task A_refused_long_poll_connection_is_a_403_and_phoenix_stops()
    {
        await using var server = await TestServer.StartAsync();
        await using var phoenix = PhoenixNodeClient.Start(server.BaseUri, "wrong_token", new Dictionary<string, string>
        {
            ["BLOCK_WEBSOCKET"] = "1",
            ["FALLBACK_MS"] = "500",
        });

        await phoenix.ExpectAsync("error", l => l.GetProperty("error").GetString() == "403");
        await phoenix.ExpectAsync("close", l => l.GetProperty("code").GetInt32() == 1008);
    }

    [Test]
    public async Task A_room_crash_is_a_channel_error_and_phoenix_rejoins_without_losing_messages()
    {
        await using var server = await TestServer.StartAsync(
            new Dictionary<string, string> { ["Storage:Provider"] = "memory" },
            services =>
            {
                services.RemoveAll<IMessageStore>();
                services.AddSingleton<IMessageStore>(sp => new PoisonedStore(sp.GetRequiredService<InMemoryStore>()));
            });
        await using var phoenix = PhoenixNodeClient.Start(server.BaseUri, "foo_token");
        await phoenix.JoinedAsync();
        await using var native = await server.ConnectAsync("bar_token");
        await native.RequestAsync(new(JoinDefault));
        await native.RequestAsync(new() { ["room"] = "default", ["message"] = "before the crash" });
        await phoenix.MessageAsync("before the crash");

        var poisoned = await phoenix.PushAsync("room:default", "new_msg", new { body = "poison" });
        Assert.That(poisoned.GetProperty("response").GetProperty("reason").GetString(), Is.EqualTo("unavailable"));
        await phoenix.ExpectAsync("channel_error");
        await native.RequestAsync(new() { ["room"] = "default", ["message"] = "while rejoining" });
        await phoenix.JoinedAsync();
        await phoenix.MessageAsync("while rejoining");
        await native.RequestAsync(new() { ["room"] = "default", ["message"] = "after the rejoin" });
        await phoenix.MessageAsync("after the rejoin");

        var bodies = phoenix.Seen.Where(l => l.GetProperty("event").GetString() == "msg").Select(l => l.GetProperty("payload").GetProperty("body").GetString());
        Assert.That(bodies, Is.EqualTo(new[] { "before the crash", "while rejoining", "after the rejoin" }));
    }

    [Test]
    public async Task Phoenix_clients_invite_moderate_and_edit_in_a_private_room()
    {
        await using var server = await TestServer.StartAsync();
        var bossToken = await server.RegisterAsync("crew_boss");
        await using (var native = await server.ConnectAsync(bossToken))
        {
            await native.RequestAsync(new() { ["command"] = "create", ["room"] = "crew", ["private"] = true });
        }

        await using var boss = PhoenixNodeClient.Start(server.BaseUri, bossToken, new Dictionary<string, string> { ["TOPICS"] = "room:crew" });
        var bossJoin = (await boss.JoinedAsync("room:crew")).GetProperty("response");
        Assert.That((bossJoin.GetProperty("private").GetBoolean(), bossJoin.GetProperty("topic").GetString(), bossJoin.GetProperty("role").GetString()), Is.EqualTo((true, "", "owner")));

        // Not invited: refused (phoenix.js keeps retrying the join with its backoff, which the invitation then lets in).
        await using var bar = PhoenixNodeClient.Start(server.BaseUri, "bar_token", new Dictionary<string, string> { ["TOPICS"] = "room:crew" });
        var refused = await bar.ExpectAsync("joined", l => l.GetProperty("topic").GetString() == "room:crew");
        Assert.That((refused.GetProperty("status").GetString(), refused.GetProperty("response").GetProperty("reason").GetString()), Is.EqualTo(("error", "not_invited")));
        var invited = await boss.PushAsync("room:crew", "invite", new { user = "bar_user" });
        Assert.That(invited.GetProperty("status").GetString(), Is.EqualTo("ok"));
        Assert.That(invited.GetProperty("response").GetProperty("id").GetInt64(), Is.GreaterThan(0));
        var barJoin = await bar.ExpectAsync("joined", l => l.GetProperty("topic").GetString() == "room:crew" && l.GetProperty("status").GetString() == "ok");
        Assert.That(barJoin.GetProperty("response").GetProperty("role").GetString(), Is.EqualTo("member"));

        // A member may not moderate; bad payloads are refused; none of it reaches the room.
        Assert.That((await bar.PushAsync("room:crew", "kick", new { user = "crew_boss" })).GetProperty("response").GetProperty("reason").GetString(), Is.EqualTo("forbidden"));
        Assert.That((await bar.PushAsync("room:crew", "topic", new { topic = "mine" })).GetProperty("response").GetProperty("reason").GetString(), Is.EqualTo("forbidden"));
        Assert.That((await boss.PushAsync("room:crew", "role", new { user = "bar_user", role = "king" })).GetProperty("response").GetProperty("reason").GetString(), Is.EqualTo("bad_request"));
        Assert.That((await boss.PushAsync("room:crew", "mute", new { })).GetProperty("response").GetProperty("reason").GetString(), Is.EqualTo("bad_request"));
        Assert.That((await boss.PushAsync("room:crew", "delete", new { id = "x" })).GetProperty("response").GetProperty("reason").GetString(), Is.EqualTo("bad_request"));

        Assert.That((await boss.PushAsync("room:crew", "topic", new { topic = "ship it" })).GetProperty("status").GetString(), Is.EqualTo("ok"));
        var topic = (await bar.ExpectAsync("room_event", l => l.GetProperty("payload").GetProperty("event").GetString() == "topic")).GetProperty("payload");
        Assert.That((topic.GetProperty("topic").GetString(), topic.GetProperty("from").GetString()), Is.EqualTo(("ship it", "crew_boss")));

        var posted = await bar.PushAsync("room:crew", "new_msg", new { body = "tpyo" });
        var id = posted.GetProperty("response").GetProperty("id").GetInt64();
        Assert.That((await boss.PushAsync("room:crew", "edit", new { id, body = "hijack" })).GetProperty("response").GetProperty("reason").GetString(), Is.EqualTo("forbidden"));
        Assert.That((await bar.PushAsync("room:crew", "edit", new { id, body = "typo" })).GetProperty("status").GetString(), Is.EqualTo("ok"));
        var edit = (await boss.ExpectAsync("room_event", l => l.GetProperty("payload").GetProperty("event").GetString() == "edit")).GetProperty("payload");
        Assert.That((edit.GetProperty("message_id").GetInt64(), edit.GetProperty("message").GetString()), Is.EqualTo((id, "typo")));
        Assert.That((await boss.PushAsync("room:crew", "delete", new { id })).GetProperty("status").GetString(), Is.EqualTo("ok"));
        Assert.That((await bar.ExpectAsync("room_event", l => l.GetProperty("payload").GetProperty("event").GetString() == "delete")).GetProperty("payload").GetProperty("message_id").GetInt64(), Is.EqualTo(id));
        var history = (await bar.PushAsync("room:crew", "history", new { })).GetProperty("response").GetProperty("messages");
        Assert.That(history.EnumerateArray().Single(m => m.GetProperty("id").GetInt64() == id).GetProperty("deleted").GetBoolean(), Is.True);

        Assert.That((await boss.PushAsync("room:crew", "mute", new { user = "bar_user", seconds = 60 })).GetProperty("status").GetString(), Is.EqualTo("ok"));
        Assert.That((await bar.PushAsync("room:crew", "new_msg", new { body = "let me talk" })).GetProperty("response").GetProperty("reason").GetString(), Is.EqualTo("muted"));
        Assert.That((await boss.PushAsync("room:crew", "kick", new { user = "bar_user" })).GetProperty("status").GetString(), Is.EqualTo("ok"));
        Assert.That((await bar.ExpectAsync("room_event", l => l.GetProperty("payload").GetProperty("event").GetString() == "kick")).GetProperty("payload").GetProperty("user").GetString(), Is.EqualTo("bar_user"));
    }
}
