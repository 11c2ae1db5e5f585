using System.Net;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
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
}
