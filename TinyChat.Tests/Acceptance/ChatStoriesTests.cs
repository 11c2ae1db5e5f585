using System.Net;
using System.Net.WebSockets;
using System.Text.Json;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Acceptance;

/// <summary>User stories of issue 3 over real WebSockets against the real host.</summary>
[TestFixture]
public sealed class ChatStoriesTests
{
    private TestServer server = null!;

    [SetUp]
    public async Task StartServer() => server = await TestServer.StartAsync();

    [TearDown]
    public async Task StopServer() => await server.DisposeAsync();

    [Test]
    public async Task As_foo_user_when_I_join_without_a_room_I_am_welcomed_to_default_by_name()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await foo.SendAsync(new { command = "join" });
        var welcome = await foo.ExpectAsync(f => f.TryGetProperty("message", out _));
        Assert.That(welcome.GetProperty("room").GetString(), Is.EqualTo("default"));
        Assert.That(welcome.GetProperty("message").GetString(), Is.EqualTo("welcome to the default chat room, foo_user!"));
    }

    [Test]
    public async Task As_foo_user_when_I_post_in_a_room_every_member_and_I_receive_it_with_sender_id_and_timestamp()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await foo.RequestAsync(Frame(("command", "join")));
        await bar.RequestAsync(Frame(("command", "join")));

        await foo.SendAsync(new { room = "default", message = "hello bar" });
        foreach (var socket in new[] { foo, bar })
        {
            var message = await socket.ExpectAsync(f => f.TryGetProperty("from", out _));
            Assert.That(message.GetProperty("room").GetString(), Is.EqualTo("default"));
            Assert.That(message.GetProperty("from").GetString(), Is.EqualTo("foo_user"));
            Assert.That(message.GetProperty("message").GetString(), Is.EqualTo("hello bar"));
            Assert.That(message.GetProperty("id").GetInt64(), Is.EqualTo(1));
            Assert.That(DateTimeOffset.Parse(message.GetProperty("ts").GetString()!), Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(1)));
            Assert.That(message.GetProperty("ts").GetString(), Does.EndWith("Z"));
        }
    }

    [Test]
    public async Task As_a_user_I_create_join_and_leave_a_room_and_double_join_or_recreate_is_refused()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        var created = await foo.RequestAsync(Frame(("command", "create"), ("room", "lobby.1")));
        Assert.That(created.GetProperty("success").GetString(), Is.EqualTo("lobby.1 has been created!"));

        var again = await foo.RequestAsync(Frame(("command", "create"), ("room", "lobby.1")));
        Assert.That(again.GetProperty("code").GetString(), Is.EqualTo("room_exists"));

        var joined = await foo.RequestAsync(Frame(("command", "join"), ("room", "lobby.1")));
        Assert.That(joined.GetProperty("message").GetString(), Is.EqualTo("welcome to the lobby.1 chat room, foo_user!"));

        var twice = await foo.RequestAsync(Frame(("command", "join"), ("room", "lobby.1")));
        Assert.That(twice.GetProperty("code").GetString(), Is.EqualTo("already_joined"));

        var rooms = await foo.RequestAsync(Frame(("command", "rooms")));
        Assert.That(rooms.GetProperty("joined").EnumerateArray().Select(e => e.GetString()), Is.EquivalentTo(new[] { "lobby.1" }));
        Assert.That(rooms.GetProperty("rooms").EnumerateArray().Select(e => e.GetString()), Is.SupersetOf(new[] { "default", "lobby.1" }));

        var left = await foo.RequestAsync(Frame(("command", "leave"), ("room", "lobby.1")));
        Assert.That(left.GetProperty("room").GetString(), Is.EqualTo("lobby.1"));

        var afterLeave = await foo.RequestAsync(Frame(("room", "lobby.1"), ("message", "anyone?")));
        Assert.That(afterLeave.GetProperty("code").GetString(), Is.EqualTo("not_a_member"));
    }

    [TestCase("no such", "invalid_room_name")]
    [TestCase("", "invalid_room_name")]
    public async Task An_invalid_room_name_is_refused_with_a_reason(string room, string code)
    {
        await using var foo = await server.ConnectAsync("foo_token");
        var reply = await foo.RequestAsync(Frame(("command", "create"), ("room", room)));
        Assert.That(reply.GetProperty("code").GetString(), Is.EqualTo(code));
        Assert.That(reply.GetProperty("error").GetString(), Is.Not.Empty);
    }

    [Test]
    public async Task Joining_or_posting_to_an_unknown_room_is_refused()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        var join = await foo.RequestAsync(Frame(("command", "join"), ("room", "nowhere")));
        Assert.That(join.GetProperty("code").GetString(), Is.EqualTo("room_not_found"));
        var post = await foo.RequestAsync(Frame(("room", "nowhere"), ("message", "hi")));
        Assert.That(post.GetProperty("code").GetString(), Is.EqualTo("room_not_found"));
    }

    [Test]
    public async Task Posting_to_a_room_I_have_not_joined_is_refused_and_members_see_nothing()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await bar.RequestAsync(Frame(("command", "join")));
        var reply = await foo.RequestAsync(Frame(("room", "default"), ("message", "sneaky")));
        Assert.That(reply.GetProperty("code").GetString(), Is.EqualTo("not_a_member"));

        // bar's next frame is the reply to its own ping: nothing from foo arrived before it.
        var pong = await bar.RequestAsync(Frame(("command", "ping")));
        Assert.That(pong.GetProperty("pong").GetBoolean(), Is.True);
        Assert.That(bar.TryPeekPending(out _), Is.False);
    }

    [Test]
    public async Task A_post_with_a_ref_is_acknowledged_after_its_echo_with_its_room_id_and_ref_verbatim()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await foo.RequestAsync(Frame(("command", "join")));
        await foo.RequestAsync(Frame(("command", "create"), ("room", "side-room")));
        await foo.RequestAsync(Frame(("command", "join"), ("room", "side-room")));

        // A number, a string with an escape, a plain string, and a second room: the acknowledgement's start is kept per room.
        await foo.SendTextAsync("{\"room\":\"default\",\"message\":\"one\",\"ref\":41}");
        await foo.SendTextAsync("{\"room\":\"side-room\",\"message\":\"two\",\"ref\":\"q\\\"x\"}");
        await foo.SendTextAsync("{\"room\":\"default\",\"message\":\"three\",\"ref\":-7}");
        await foo.SendTextAsync("{\"room\":\"side-room\",\"message\":\"four\",\"ref\":\"r-4\"}");
        var seen = new List<JsonElement>();
        for (var frames = 0; frames < 100 && seen.Count(f => f.TryGetProperty("ok", out _)) < 4; frames++)
        {
            seen.Add(await foo.ReceiveAsync());
        }

        var acks = seen.Where(f => f.TryGetProperty("ok", out _)).ToList();
        Assert.That(acks.Select(a => string.Join(",", a.EnumerateObject().Select(p => p.Name))), Is.All.EqualTo("ok,room,id,ref"));
        Assert.That(acks.Select(a => a.GetProperty("ref").ToString()), Is.EquivalentTo(new[] { "41", "q\"x", "-7", "r-4" }));
        foreach (var (text, reference) in new[] { ("one", "41"), ("two", "q\"x"), ("three", "-7"), ("four", "r-4") })
        {
            var echo = seen.FindIndex(f => f.TryGetProperty("message", out var m) && m.GetString() == text);
            var ack = seen.FindIndex(f => f.TryGetProperty("ok", out _) && f.GetProperty("ref").ToString() == reference);
            Assert.That(echo, Is.GreaterThanOrEqualTo(0).And.LessThan(ack), $"{text}: the echo comes before the acknowledgement");
            Assert.That(seen[ack].GetProperty("ok").GetBoolean(), Is.True);
            Assert.That(seen[ack].GetProperty("room").GetString(), Is.EqualTo(seen[echo].GetProperty("room").GetString()));
            Assert.That(seen[ack].GetProperty("id").GetInt64(), Is.EqualTo(seen[echo].GetProperty("id").GetInt64()));
        }
    }

    [Test]
    public async Task A_refused_post_with_a_ref_gets_the_error_with_that_ref_and_no_acknowledgement()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await bar.RequestAsync(Frame(("command", "join")));
        await foo.SendTextAsync("{\"room\":\"default\",\"message\":\"sneaky\",\"ref\":9}");
        var refused = await foo.ReceiveAsync();
        Assert.That(refused.GetProperty("code").GetString(), Is.EqualTo("not_a_member"));
        Assert.That(refused.GetProperty("ref").GetInt32(), Is.EqualTo(9));
        var pong = await foo.RequestAsync(Frame(("command", "ping")));
        Assert.That(pong.GetProperty("pong").GetBoolean(), Is.True);
        Assert.That(foo.TryPeekPending(out _), Is.False);
    }

    [Test]
    public async Task Two_connections_of_one_user_both_receive_room_messages()
    {
        await using var tab1 = await server.ConnectAsync("foo_token");
        await using var tab2 = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await tab1.RequestAsync(Frame(("command", "join")));
        await bar.RequestAsync(Frame(("command", "join")));

        await bar.SendAsync(new { room = "default", message = "to both tabs" });
        foreach (var tab in new[] { tab1, tab2 })
        {
            var message = await tab.ExpectAsync(f => f.TryGetProperty("from", out _));
            Assert.That(message.GetProperty("message").GetString(), Is.EqualTo("to both tabs"));
        }
    }

    [Test]
    public async Task Private_messages_go_both_ways_and_are_echoed_to_the_sender()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");

        await foo.SendAsync(new { to = "bar_user", message = "psst" });
        foreach (var socket in new[] { foo, bar })
        {
            var pm = await socket.ExpectAsync(f => f.TryGetProperty("to", out _));
            Assert.That(pm.GetProperty("from").GetString(), Is.EqualTo("foo_user"));
            Assert.That(pm.GetProperty("to").GetString(), Is.EqualTo("bar_user"));
            Assert.That(pm.GetProperty("message").GetString(), Is.EqualTo("psst"));
            Assert.That(pm.GetProperty("id").GetInt64(), Is.GreaterThan(0));
        }

        await bar.SendAsync(new { to = "foo_user", message = "hi back" });
        var back = await foo.ExpectAsync(f => f.TryGetProperty("to", out _));
        Assert.That(back.GetProperty("from").GetString(), Is.EqualTo("bar_user"));
        Assert.That(back.GetProperty("message").GetString(), Is.EqualTo("hi back"));
    }

    [Test]
    public async Task A_private_message_to_an_unknown_user_is_refused()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        var reply = await foo.RequestAsync(Frame(("to", "nobody_here"), ("message", "hello?")));
        Assert.That(reply.GetProperty("code").GetString(), Is.EqualTo("user_not_found"));
    }

    [TestCase("this is not json", "invalid_json")]
    [TestCase("[1,2,3]", "bad_request")]
    [TestCase("42", "bad_request")]
    [TestCase("{\"command\":\"dance\"}", "unknown_command")]
    [TestCase("{\"command\":42}", "bad_request")]
    [TestCase("{\"room\":\"default\"}", "bad_request")]
    [TestCase("{\"command\":\"create\"}", "bad_request")]
    [TestCase("{\"message\":\"where to?\"}", "bad_request")]
    [TestCase("{\"room\":[\"default\"],\"message\":\"x\"}", "bad_request")]
    [TestCase("{} {}", "invalid_json")]
    public async Task A_bad_frame_gets_an_error_and_the_connection_stays_usable(string text, string code)
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await foo.SendTextAsync(text);
        var error = await foo.ReceiveAsync();
        Assert.That(error.GetProperty("code").GetString(), Is.EqualTo(code));
        Assert.That(error.GetProperty("error").GetString(), Is.Not.Empty);

        var pong = await foo.RequestAsync(Frame(("command", "ping")));
        Assert.That(pong.GetProperty("pong").GetBoolean(), Is.True);
    }

    [Test]
    public async Task A_binary_frame_gets_an_error_and_the_connection_stays_usable()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await foo.Socket.SendAsync(new byte[] { 1, 2, 3 }, WebSocketMessageType.Binary, true, CancellationToken.None);
        var error = await foo.ReceiveAsync();
        Assert.That(error.GetProperty("code").GetString(), Is.EqualTo("binary_not_supported"));
        var whoami = await foo.RequestAsync(Frame(("command", "whoami")));
        Assert.That(whoami.GetProperty("username").GetString(), Is.EqualTo("foo_user"));
        Assert.That(whoami.GetProperty("node").GetString(), Is.EqualTo("local"), "a single server is node local");
    }

    [Test]
    public async Task Every_reply_and_error_carries_the_ref_of_its_frame()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await foo.SendTextAsync("{\"command\":\"ping\",\"ref\":7}");
        Assert.That((await foo.ReceiveAsync()).GetProperty("ref").GetInt32(), Is.EqualTo(7));
        await foo.SendTextAsync("{\"command\":\"nope\",\"ref\":\"abc\"}");
        var error = await foo.ReceiveAsync();
        Assert.That(error.GetProperty("ref").GetString(), Is.EqualTo("abc"));
        Assert.That(error.GetProperty("code").GetString(), Is.EqualTo("unknown_command"));
    }

    [Test]
    public async Task A_message_over_the_length_limit_is_refused()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await foo.RequestAsync(Frame(("command", "join")));
        var reply = await foo.RequestAsync(Frame(("room", "default"), ("message", new string('x', 4001))));
        Assert.That(reply.GetProperty("code").GetString(), Is.EqualTo("message_too_long"));
    }

    [TestCase("")]
    [TestCase("?access_token=")]
    [TestCase("?access_token=wrong_token")]
    public async Task A_missing_or_bad_token_gets_401_with_a_json_error_and_no_upgrade(string query)
    {
        using var client = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server.BaseUri, "/chat" + query));
        request.Headers.Add("Connection", "Upgrade");
        request.Headers.Add("Upgrade", "websocket");
        request.Headers.Add("Sec-WebSocket-Version", "13");
        request.Headers.Add("Sec-WebSocket-Key", Convert.ToBase64String(Guid.NewGuid().ToByteArray()));
        using var response = await client.SendAsync(request);
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.Unauthorized));
        var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.That(body.GetProperty("error").GetString(), Is.Not.Empty);
    }

    [Test]
    public async Task As_foo_user_with_every_connection_slot_taken_my_next_upgrade_gets_429_and_a_closed_one_frees_a_slot()
    {
        await using var limited = await TestServer.StartAsync(new Dictionary<string, string> { ["Limits:MaxConnectionsPerUser"] = "2" });
        var first = await limited.ConnectAsync("foo_token");
        await using var second = await limited.ConnectAsync("foo_token");

        var refused = Assert.ThrowsAsync<WebSocketException>(() => limited.ConnectAsync("foo_token"));
        Assert.That(refused!.Message, Does.Contain("429"));

        await first.DisposeAsync();
        await AwaitSlotFreedAsync(limited);
    }

    private static async Task AwaitSlotFreedAsync(TestServer limited)
    {
        // The server frees the slot once it has processed the close; retry the upgrade until then, bounded.
        var deadline = DateTime.UtcNow + ChatSocket.DefaultTimeout;
        while (true)
        {
            try
            {
                await using var third = await limited.ConnectAsync("foo_token");
                return;
            }
            catch (WebSocketException ex) when (ex.Message.Contains("429") && DateTime.UtcNow < deadline)
            {
                await Task.Delay(10);
            }
        }
    }

    [Test]
    public async Task As_foo_user_browsing_rooms_I_see_each_rooms_member_and_online_counts()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        var bar = await server.ConnectAsync("bar_token");
        await foo.RequestAsync(Frame(("command", "create"), ("room", "quiet")));
        await foo.RequestAsync(Frame(("command", "join"), ("room", "quiet")));
        await bar.RequestAsync(Frame(("command", "join"), ("room", "quiet")));

        // Seen arriving first: someone who comes and goes within one presence tick is never announced at all.
        await foo.ExpectAsync(f => f.TryGetProperty("presence_diff", out var diff) && diff.GetProperty("joins").TryGetProperty("bar_user", out _));
        await bar.DisposeAsync();
        await foo.ExpectAsync(f => f.TryGetProperty("presence_diff", out var diff) && diff.GetProperty("leaves").TryGetProperty("bar_user", out _));

        var rooms = await foo.RequestAsync(Frame(("command", "rooms")));

        var quiet = rooms.GetProperty("details").EnumerateArray().Single(d => d.GetProperty("room").GetString() == "quiet");
        Assert.That(quiet.GetProperty("members").GetInt32(), Is.EqualTo(2));
        Assert.That(quiet.GetProperty("online").GetInt32(), Is.EqualTo(1), "bar is a member but offline");
    }

    [Test]
    public async Task A_bearer_header_authenticates_like_the_query_parameter()
    {
        await using var foo = await ChatSocket.ConnectAsync(server.WebSocketUri("/chat"), o => o.SetRequestHeader("Authorization", "Bearer foo_token"));
        var whoami = await foo.RequestAsync(Frame(("command", "whoami")));
        Assert.That(whoami.GetProperty("username").GetString(), Is.EqualTo("foo_user"));
    }

    [Test]
    public async Task A_plain_get_of_chat_gets_400()
    {
        using var response = await server.Http.GetAsync("/chat");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.BadRequest));
    }

    [Test]
    public async Task As_a_new_user_I_register_and_chat_with_my_token()
    {
        var token = await server.RegisterAsync("alice");
        Assert.That(token.Length, Is.GreaterThanOrEqualTo(22));
        await using var alice = await server.ConnectAsync(token);
        var whoami = await alice.RequestAsync(Frame(("command", "whoami")));
        Assert.That(whoami.GetProperty("username").GetString(), Is.EqualTo("alice"));
    }

    [TestCase("{\"username\":\"foo_user\"}", HttpStatusCode.Conflict)]
    [TestCase("{\"username\":\"bad name!\"}", HttpStatusCode.BadRequest)]
    [TestCase("{\"username\":\"\"}", HttpStatusCode.BadRequest)]
    [TestCase("{\"username\":5}", HttpStatusCode.BadRequest)]
    [TestCase("not json", HttpStatusCode.BadRequest)]
    public async Task Registration_refuses_taken_and_invalid_names(string body, HttpStatusCode status)
    {
        using var content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        using var response = await server.Http.PostAsync("/api/users", content);
        Assert.That(response.StatusCode, Is.EqualTo(status));
        var error = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.That(error.GetProperty("error").GetString(), Is.Not.Empty);
    }
}
