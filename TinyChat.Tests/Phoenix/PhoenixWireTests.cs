using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Phoenix;

/// <summary>The Phoenix wire format and its error replies, over raw WebSockets.</summary>
public sealed class PhoenixWireTests
{
    private static Task<ChatSocket> ConnectAsync(TestServer server, string query = "token=foo_token&vsn=2.0.0", Action<ClientWebSocketOptions>? configure = null) =>
        ChatSocket.ConnectAsync(server.WebSocketUri($"/socket/websocket?{query}"), configure);

    private static Task SendAsync(ChatSocket socket, string? joinRef, string? reference, string topic, string eventName, object payload) =>
        socket.SendTextAsync(JsonSerializer.Serialize(new object?[] { joinRef, reference, topic, eventName, payload }));

    // The phx_reply carrying this ref: [join_ref, ref, topic, "phx_reply", {status, response}].
    private static Task<JsonElement> ReplyAsync(ChatSocket socket, string reference) =>
        socket.ExpectAsync(f => f.ValueKind == JsonValueKind.Array && f[1].ValueKind == JsonValueKind.String && f[1].GetString() == reference && f[3].GetString() == "phx_reply");

    private static async Task<JsonElement> RequestAsync(ChatSocket socket, string? joinRef, string reference, string topic, string eventName, object payload)
    {
        await SendAsync(socket, joinRef, reference, topic, eventName, payload);
        return await ReplyAsync(socket, reference);
    }

    private static string Status(JsonElement reply) => reply[4].GetProperty("status").GetString()!;

    private static string Reason(JsonElement reply) => reply[4].GetProperty("response").GetProperty("reason").GetString()!;

    [Test]
    public async Task A_join_is_answered_with_its_refs_then_the_presence_state()
    {
        await using var server = await TestServer.StartAsync();
        await using var socket = await ConnectAsync(server);

        var reply = await RequestAsync(socket, "1", "1", "room:default", "phx_join", new { });
        Assert.That(reply.GetRawText(), Is.EqualTo("""["1","1","room:default","phx_reply",{"status":"ok","response":{"private":false,"topic":"","role":"admin"}}]"""));
        var state = await socket.ReceiveAsync();
        Assert.That(state[0].ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(state[3].GetString(), Is.EqualTo("presence_state"));
        var metas = state[4].GetProperty("foo_user").GetProperty("metas");
        Assert.That(metas.GetArrayLength(), Is.EqualTo(1));
        Assert.That(metas[0].GetProperty("phx_ref").GetString(), Is.Not.Empty);
    }

    [Test]
    public async Task A_join_with_create_and_private_creates_a_private_room_and_says_so()
    {
        await using var server = await TestServer.StartAsync();
        await using var socket = await ConnectAsync(server);

        var reply = await RequestAsync(socket, "1", "1", "room:secret", "phx_join", new { create = true, @private = true });
        Assert.That(reply.GetRawText(), Is.EqualTo("""["1","1","room:secret","phx_reply",{"status":"ok","response":{"private":true,"topic":"","role":"admin"}}]"""));
        await using var bar = await ConnectAsync(server, "token=bar_token&vsn=2.0.0");
        Assert.That(Reason(await RequestAsync(bar, "1", "1", "room:secret", "phx_join", new { })), Is.EqualTo("not_invited"));
    }

    [Test]
    public async Task Heartbeats_and_bad_input_are_answered_and_the_socket_stays_up()
    {
        await using var server = await TestServer.StartAsync();
        await using var socket = await ConnectAsync(server);

        Assert.That((await RequestAsync(socket, null, "1", "phoenix", "heartbeat", new { })).GetRawText(),
            Is.EqualTo("""[null,"1","phoenix","phx_reply",{"status":"ok","response":{}}]"""));

        await socket.SendTextAsync("this is not json");
        var malformed = await socket.ReceiveAsync();
        Assert.That((Status(malformed), Reason(malformed)), Is.EqualTo(("error", "malformed_message")));

        await socket.SendTextAsync("""{"topic":"room:default"}""");
        Assert.That(Reason(await socket.ReceiveAsync()), Is.EqualTo("malformed_message"));

        Assert.That(Reason(await RequestAsync(socket, "2", "2", "lobby:1", "phx_join", new { })), Is.EqualTo("unmatched topic"));
        Assert.That(Reason(await RequestAsync(socket, "3", "3", "room:default", "new_msg", new { body = "not joined" })), Is.EqualTo("unmatched topic"));
        Assert.That(Reason(await RequestAsync(socket, "4", "4", "room:nope", "phx_join", new { })), Is.EqualTo("room_not_found"));
        Assert.That(Reason(await RequestAsync(socket, "5", "5", "user:bar_user", "phx_join", new { })), Is.EqualTo("unauthorized"));

        await RequestAsync(socket, "6", "6", "room:default", "phx_join", new { });
        Assert.That(Reason(await RequestAsync(socket, "6", "7", "room:default", "shout", new { })), Is.EqualTo("unknown_event"));
        Assert.That(Reason(await RequestAsync(socket, "6", "8", "room:default", "new_msg", new { text = "wrong field" })), Is.EqualTo("bad_request"));
        Assert.That(Reason(await RequestAsync(socket, "6", "9", "room:default", "new_msg", new { body = new string('x', 4001) })), Is.EqualTo("message_too_long"));
        Assert.That(Reason(await RequestAsync(socket, "6", "10", "room:default", "history", new { limit = 0 })), Is.EqualTo("bad_request"));

        Assert.That(Status(await RequestAsync(socket, null, "11", "phoenix", "heartbeat", new { })), Is.EqualTo("ok"));
        Assert.That(socket.Socket.State, Is.EqualTo(WebSocketState.Open));
    }

    [Test]
    public async Task Heartbeats_keep_a_socket_past_the_idle_timeout_and_silence_closes_it()
    {
        var clock = new ManualClock();
        await using var server = await TestServer.StartAsync(
            new Dictionary<string, string> { ["WebSocket:IdleTimeoutSeconds"] = "1" },
            services => services.AddSingleton<TimeProvider>(clock));
        await using var socket = await ConnectAsync(server);
        for (var i = 0; i < 3; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(0.8));
            Assert.That(Status(await RequestAsync(socket, null, $"h{i}", "phoenix", "heartbeat", new { })), Is.EqualTo("ok"), "kept open by heartbeats for 2.4 idle timeouts");
        }

        clock.Advance(TimeSpan.FromSeconds(1.5));
        await socket.WaitClosedAsync();
        Assert.That(socket.CloseStatus, Is.EqualTo(WebSocketCloseStatus.PolicyViolation));
        Assert.That(socket.CloseDescription, Does.Contain("idle timeout"));
    }

    [Test]
    public async Task Vsn_1_speaks_json_objects()
    {
        await using var server = await TestServer.StartAsync();
        await using var socket = await ConnectAsync(server, "token=foo_token&vsn=1.0.0");

        await socket.SendTextAsync("""{"topic":"room:default","event":"phx_join","payload":{},"ref":"1","join_ref":"1"}""");
        var reply = await socket.ReceiveAsync();
        Assert.That(reply.GetRawText(), Is.EqualTo("""{"topic":"room:default","event":"phx_reply","payload":{"status":"ok","response":{"private":false,"topic":"","role":"admin"}},"ref":"1"}"""));
        Assert.That((await socket.ReceiveAsync()).GetProperty("event").GetString(), Is.EqualTo("presence_state"));

        await socket.SendTextAsync("""{"topic":"room:default","event":"new_msg","payload":{"body":"hi"},"ref":"2","join_ref":"1"}""");
        var message = await socket.ExpectAsync(f => f.GetProperty("event").GetString() == "new_msg");
        Assert.That(message.GetProperty("payload").GetProperty("body").GetString(), Is.EqualTo("hi"));
        Assert.That(message.GetProperty("ref").ValueKind, Is.EqualTo(JsonValueKind.Null));
    }

    [Test]
    public async Task The_auth_token_subprotocol_is_accepted_and_answered_with_phoenix()
    {
        await using var server = await TestServer.StartAsync();
        var encoded = Convert.ToBase64String(Encoding.UTF8.GetBytes("foo_token")).TrimEnd('=');
        await using var socket = await ConnectAsync(server, "vsn=2.0.0", o =>
        {
            o.AddSubProtocol("phoenix");
            o.AddSubProtocol("base64url.bearer.phx." + encoded);
        });

        Assert.That(socket.Socket.SubProtocol, Is.EqualTo("phoenix"));
        Assert.That(Status(await RequestAsync(socket, "1", "1", "room:default", "phx_join", new { })), Is.EqualTo("ok"));
    }

    [TestCase("vsn=2.0.0", HttpStatusCode.Unauthorized)]
    [TestCase("token=nope&vsn=2.0.0", HttpStatusCode.Unauthorized)]
    [TestCase("token=foo_token&vsn=3.0.0", HttpStatusCode.BadRequest)]
    public async Task Upgrades_are_refused_with_a_status(string query, HttpStatusCode status)
    {
        await using var server = await TestServer.StartAsync();
        using var socket = new ClientWebSocket();
        socket.Options.CollectHttpResponseDetails = true;
        Assert.ThrowsAsync<WebSocketException>(() => socket.ConnectAsync(server.WebSocketUri($"/socket/websocket?{query}"), CancellationToken.None));
        Assert.That(socket.HttpStatusCode, Is.EqualTo(status));
    }

    [Test]
    public async Task A_join_with_last_id_gets_the_missed_messages_after_the_reply_and_history_pages_by_push()
    {
        await using var server = await TestServer.StartAsync();
        await using var native = await server.ConnectAsync("bar_token");
        await native.RequestAsync(new() { ["command"] = "join" });
        for (var i = 1; i <= 3; i++)
        {
            await native.RequestAsync(new() { ["room"] = "default", ["message"] = $"m{i}" });
        }

        await using var socket = await ConnectAsync(server);
        await SendAsync(socket, "1", "1", "room:default", "phx_join", new { last_id = 1 });
        var frames = new List<JsonElement>();
        for (var i = 0; i < 4; i++)
        {
            frames.Add(await socket.ReceiveAsync());
        }

        Assert.That(frames.Select(f => f[3].GetString()), Is.EqualTo(new[] { "phx_reply", "presence_state", "new_msg", "new_msg" }));
        Assert.That(frames.Skip(2).Select(f => f[4].GetProperty("body").GetString()), Is.EqualTo(new[] { "m2", "m3" }));

        var page = await RequestAsync(socket, "1", "2", "room:default", "history", new { before = 3, limit = 1 });
        var messages = page[4].GetProperty("response").GetProperty("messages");
        Assert.That(messages.EnumerateArray().Select(m => m.GetProperty("body").GetString()), Is.EqualTo(new[] { "m2" }));
    }

    [Test]
    public async Task A_join_more_than_a_queue_behind_gets_every_missed_message_in_order_and_stays_up()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string>
        {
            ["WebSocket:OutboxCapacity"] = "16",
            ["Limits:MessagesPerSecond"] = "0",
            ["Limits:FramesPerSecond"] = "0",
        });
        await using var native = await server.ConnectAsync("bar_token");
        await native.RequestAsync(new() { ["command"] = "join" });
        for (var i = 0; i < 150; i++)
        {
            await native.RequestAsync(new() { ["room"] = "default", ["message"] = $"m{i}" });
        }

        // Ten queues' worth behind: pushed a part at a time as the socket takes them, not closed as a slow reader.
        await using var socket = await ConnectAsync(server);
        await SendAsync(socket, "1", "1", "room:default", "phx_join", new { last_id = 0 });
        var bodies = new List<string?>();
        while (bodies.Count < 150)
        {
            var frame = await socket.ReceiveAsync();
            if (frame[3].GetString() == "new_msg")
            {
                bodies.Add(frame[4].GetProperty("body").GetString());
            }
        }

        Assert.That(bodies, Is.EqualTo(Enumerable.Range(0, 150).Select(i => $"m{i}")));
        await native.RequestAsync(new() { ["room"] = "default", ["message"] = "live" });
        var next = await socket.ExpectAsync(f => f[3].GetString() == "new_msg");
        Assert.That(next[4].GetProperty("body").GetString(), Is.EqualTo("live"));
    }

    [Test]
    public async Task Joining_a_missing_room_with_create_makes_it()
    {
        await using var server = await TestServer.StartAsync();
        await using var socket = await ConnectAsync(server);
        Assert.That(Status(await RequestAsync(socket, "1", "1", "room:fresh", "phx_join", new { create = true })), Is.EqualTo("ok"));
        Assert.That(Status(await RequestAsync(socket, "1", "2", "room:fresh", "new_msg", new { body = "first" })), Is.EqualTo("ok"));
    }

    [Test]
    public async Task Floods_are_refused_then_closed_like_the_native_protocol()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string>
        {
            ["Limits:FramesPerSecond"] = "1",
            ["Limits:FrameBurst"] = "2",
            ["Limits:FloodDisconnectAfter"] = "3",
        });
        await using var socket = await ConnectAsync(server);
        var reasons = new List<string>();
        for (var i = 0; i < 10 && !socket.Closed.IsCompleted; i++)
        {
            await SendAsync(socket, null, $"{i}", "phoenix", "heartbeat", new { });
            try
            {
                var reply = await ReplyAsync(socket, $"{i}");
                reasons.Add(Status(reply) == "ok" ? "ok" : Reason(reply));
            }
            catch (InvalidOperationException)
            {
                break; // closed before this reply
            }
        }

        Assert.That(reasons, Does.Contain("rate_limited"));
        await socket.WaitClosedAsync();
        Assert.That(socket.CloseStatus, Is.EqualTo(WebSocketCloseStatus.PolicyViolation));
    }

    [Test]
    public async Task Joining_again_is_fine_phx_leave_ends_only_this_subscription_and_leave_ends_the_membership()
    {
        await using var server = await TestServer.StartAsync();
        await using var socket = await ConnectAsync(server);
        await using var witness = await ConnectAsync(server, "token=bar_token&vsn=2.0.0");
        await RequestAsync(witness, "1", "1", "room:default", "phx_join", new { });
        Assert.That(Status(await RequestAsync(socket, "1", "1", "room:default", "phx_join", new { })), Is.EqualTo("ok"));
        Assert.That(Status(await RequestAsync(socket, "2", "2", "room:default", "phx_join", new { })), Is.EqualTo("ok"), "a second join (phoenix.js's rejoin) is answered like the first");

        // phx_leave: this socket stops receiving the room and may not push to it; the user stays a member.
        Assert.That(Status(await RequestAsync(socket, "2", "3", "room:default", "phx_leave", new { })), Is.EqualTo("ok"));
        Assert.That(Reason(await RequestAsync(socket, "2", "4", "room:default", "new_msg", new { body = "not joined" })), Is.EqualTo("unmatched topic"));
        await SendAsync(witness, "1", "2", "room:default", "new_msg", new { body = "after phx_leave" });
        await witness.ExpectAsync(f => f[3].GetString() == "new_msg" && f[4].GetProperty("body").GetString() == "after phx_leave");
        await SendAsync(socket, null, "5", "phoenix", "heartbeat", new { });
        var untilHeartbeat = new List<JsonElement>();
        for (var frame = await socket.ReceiveAsync(); frame[1].ValueKind != JsonValueKind.String || frame[1].GetString() != "5"; frame = await socket.ReceiveAsync())
        {
            untilHeartbeat.Add(frame);
        }

        Assert.That(untilHeartbeat.Select(f => f[3].GetString()), Has.None.EqualTo("new_msg"), "the room's broadcast reached the witness, not the socket that left the channel");
        Assert.That(await JoinedRoomsAsync(server, "foo_token"), Does.Contain("default"));

        // leave: the user is no longer a member (every connection of theirs stops receiving the room).
        Assert.That(Status(await RequestAsync(socket, "6", "6", "room:default", "phx_join", new { })), Is.EqualTo("ok"));
        Assert.That(Status(await RequestAsync(socket, "6", "7", "room:default", "leave", new { })), Is.EqualTo("ok"));
        Assert.That(await JoinedRoomsAsync(server, "foo_token"), Does.Not.Contain("default"));
        Assert.That(Status(await RequestAsync(socket, "6", "8", "room:default", "phx_leave", new { })), Is.EqualTo("ok"), "phoenix.js leaves the channel after the push");
        Assert.That(Reason(await RequestAsync(socket, "6", "9", "room:default", "history", new { })), Is.EqualTo("unmatched topic"));
        Assert.That(Reason(await RequestAsync(socket, "6", "10", "room:default", "leave", new { })), Is.EqualTo("unmatched topic"));
    }

    [Test]
    public async Task Typing_crosses_between_phoenix_and_native_clients_in_rooms_and_in_private()
    {
        await using var server = await TestServer.StartAsync();
        await using var native = await server.ConnectAsync("bar_token");
        await native.RequestAsync(new() { ["command"] = "join" });
        await using var socket = await ConnectAsync(server);
        await RequestAsync(socket, "1", "1", "room:default", "phx_join", new { });
        await RequestAsync(socket, "2", "2", "user:foo_user", "phx_join", new { });

        Assert.That(Status(await RequestAsync(socket, "1", "3", "room:default", "typing", new { })), Is.EqualTo("ok"));
        var inRoom = await native.ExpectAsync(f => f.TryGetProperty("typing", out _) && f.TryGetProperty("room", out _));
        Assert.That((inRoom.GetProperty("room").GetString(), inRoom.GetProperty("typing").GetString()), Is.EqualTo(("default", "foo_user")));
        Assert.That(Status(await RequestAsync(socket, "2", "4", "user:foo_user", "typing", new { to = "bar_user" })), Is.EqualTo("ok"));
        var toMe = await native.ExpectAsync(f => f.TryGetProperty("typing", out _) && f.TryGetProperty("to", out _));
        Assert.That((toMe.GetProperty("to").GetString(), toMe.GetProperty("typing").GetString()), Is.EqualTo(("bar_user", "foo_user")));
        Assert.That(Reason(await RequestAsync(socket, "2", "5", "user:foo_user", "typing", new { })), Is.EqualTo("bad_request"));

        await native.SendAsync(new { command = "typing", room = "default" });
        var roomTyping = await socket.ExpectAsync(f => f[3].GetString() == "typing" && f[2].GetString() == "room:default");
        Assert.That((roomTyping[0].ValueKind, roomTyping[4].GetProperty("user").GetString()), Is.EqualTo((JsonValueKind.Null, "bar_user")));
        await native.SendAsync(new { command = "typing", to = "foo_user" });
        var privateTyping = await socket.ExpectAsync(f => f[3].GetString() == "typing" && f[2].GetString() == "user:foo_user");
        Assert.That((privateTyping[4].GetProperty("user").GetString(), privateTyping[4].GetProperty("to").GetString()), Is.EqualTo(("bar_user", "foo_user")));
    }

    [Test]
    public async Task Posts_over_the_message_rate_are_refused_and_the_socket_stays_up()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Limits:MessagesPerSecond"] = "0.01", ["Limits:MessageBurst"] = "2" });
        await using var socket = await ConnectAsync(server);
        await RequestAsync(socket, "1", "1", "room:default", "phx_join", new { });
        var answers = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            var reply = await RequestAsync(socket, "1", $"p{i}", "room:default", "new_msg", new { body = $"m{i}" });
            answers.Add(Status(reply) == "ok" ? "ok" : Reason(reply));
        }

        Assert.That(answers, Is.EqualTo(new[] { "ok", "ok", "rate_limited" }));
        Assert.That(Status(await RequestAsync(socket, null, "h", "phoenix", "heartbeat", new { })), Is.EqualTo("ok"));
        Assert.That(socket.Socket.State, Is.EqualTo(WebSocketState.Open));
    }

    [Test]
    public async Task Oversized_and_invalid_frames_close_the_socket_as_the_native_protocol_does_and_a_long_poll_batch_over_the_limit_is_413()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["WebSocket:MaxMessageBytes"] = "4096" });
        await using var big = await ConnectAsync(server);
        await SendAsync(big, "1", "1", "room:default", "new_msg", new { body = new string('x', 5000) });
        await big.WaitClosedAsync();
        Assert.That(big.CloseStatus, Is.EqualTo(WebSocketCloseStatus.MessageTooBig));

        await using var garbled = await ConnectAsync(server, "token=bar_token&vsn=2.0.0");
        await garbled.Socket.SendAsync(new byte[] { (byte)'[', 0xC3, 0x28, (byte)']' }, WebSocketMessageType.Text, true, CancellationToken.None);
        await garbled.WaitClosedAsync();
        Assert.That(garbled.CloseStatus, Is.EqualTo(WebSocketCloseStatus.InvalidPayloadData));

        // Long polling: the batch is refused whole, and the session goes on.
        using var opening = await server.Http.GetAsync("/socket/longpoll?vsn=2.0.0&token=foo_token");
        var opened = JsonDocument.Parse(await opening.Content.ReadAsStringAsync()).RootElement;
        Assert.That(opened.GetProperty("status").GetInt32(), Is.EqualTo(410));
        var session = "/socket/longpoll?vsn=2.0.0&token=" + Uri.EscapeDataString(opened.GetProperty("token").GetString()!);
        var oversized = JsonSerializer.Serialize(new object?[] { "1", "1", "room:default", "phx_join", new { padding = new string('x', 5000) } });
        using (var refused = await server.Http.PostAsync(session, new StringContent(oversized, Encoding.UTF8, "application/x-ndjson")))
        {
            Assert.That(refused.StatusCode, Is.EqualTo(HttpStatusCode.RequestEntityTooLarge));
            Assert.That(JsonDocument.Parse(await refused.Content.ReadAsStringAsync()).RootElement.GetProperty("code").GetString(), Is.EqualTo("body_too_large"));
        }

        var heartbeat = JsonSerializer.Serialize(new object?[] { null, "2", "phoenix", "heartbeat", new { } });
        using (var accepted = await server.Http.PostAsync(session, new StringContent(heartbeat, Encoding.UTF8, "application/x-ndjson")))
        {
            Assert.That(JsonDocument.Parse(await accepted.Content.ReadAsStringAsync()).RootElement.GetProperty("status").GetInt32(), Is.EqualTo(200));
        }

        using var poll = await server.Http.GetAsync(session);
        var messages = JsonDocument.Parse(await poll.Content.ReadAsStringAsync()).RootElement.GetProperty("messages");
        Assert.That(messages.EnumerateArray().Select(m => m.GetString()), Is.EqualTo(new[] { """[null,"2","phoenix","phx_reply",{"status":"ok","response":{}}]""" }), "nothing of the refused batch was acted on");

        // A line that is not UTF-8 cannot close a long-poll session as it closes a WebSocket: it is answered.
        using (var garbledBatch = new ByteArrayContent([(byte)'[', 0xC3, 0x28, (byte)']']))
        using (await server.Http.PostAsync(session, garbledBatch))
        {
        }

        using var answered = await server.Http.GetAsync(session);
        var malformed = JsonDocument.Parse(JsonDocument.Parse(await answered.Content.ReadAsStringAsync()).RootElement.GetProperty("messages")[0].GetString()!).RootElement;
        Assert.That((malformed[2].GetString(), Status(malformed), Reason(malformed)), Is.EqualTo(("phoenix", "error", "malformed_message")));
    }

    [Test]
    public async Task Api_requests_of_a_user_online_on_phoenix_add_no_meta_and_no_presence_diff()
    {
        await using var server = await TestServer.StartAsync();
        await using var watcher = await ConnectAsync(server, "token=bar_token&vsn=2.0.0");
        await RequestAsync(watcher, "1", "1", "room:default", "phx_join", new { });

        // The state first: a tab opened before it is read would be in it, not in a diff.
        await watcher.ExpectAsync(f => f[3].GetString() == "presence_state");
        await using var tab = await ConnectAsync(server);
        await RequestAsync(tab, "1", "1", "room:default", "phx_join", new { });
        var came = await watcher.ExpectAsync(f => f[3].GetString() == "presence_diff" && f[4].GetProperty("joins").TryGetProperty("foo_user", out _));
        Assert.That(came[4].GetProperty("joins").GetProperty("foo_user").GetProperty("metas").GetArrayLength(), Is.EqualTo(1));

        // The same user, by HTTP: reads, a post, a presence query. None of them is a connection that shows.
        using var http = new HttpClient { BaseAddress = server.BaseUri };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "foo_token");
        using (await http.GetAsync("/api/me"))
        {
        }

        using (var posted = await http.PostAsync("/api/rooms/default/messages", new StringContent("""{"message":"from the api"}""", Encoding.UTF8, "application/json")))
        {
            Assert.That(posted.StatusCode, Is.EqualTo(HttpStatusCode.Created));
        }

        using (var presence = await http.GetAsync("/api/rooms/default/presence"))
        {
            var online = JsonDocument.Parse(await presence.Content.ReadAsStringAsync()).RootElement.GetProperty("presence_state");
            Assert.That(online.GetProperty("foo_user").GetProperty("connections").GetInt32(), Is.EqualTo(1), "the asking request is not counted");
        }

        // Everything the watcher got up to the tab's own marker: the API's post, and no presence change of foo_user.
        await SendAsync(tab, "1", "2", "room:default", "new_msg", new { body = "marker" });
        var seen = new List<JsonElement>();
        for (var frame = await watcher.ReceiveAsync(); !(frame[3].GetString() == "new_msg" && frame[4].GetProperty("body").GetString() == "marker"); frame = await watcher.ReceiveAsync())
        {
            seen.Add(frame);
        }

        Assert.That(seen.Where(f => f[3].GetString() == "new_msg").Select(f => f[4].GetProperty("body").GetString()), Is.EqualTo(new[] { "from the api" }));
        Assert.That(seen.Where(f => f[3].GetString() == "presence_diff").Select(f => f.GetRawText()), Is.Empty);
    }

    private static async Task<List<string?>> JoinedRoomsAsync(TestServer server, string token)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/me");
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", token);
        using var response = await server.Http.SendAsync(request);
        var me = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        return [.. me.GetProperty("joined").EnumerateArray().Select(r => r.GetString())];
    }
}
