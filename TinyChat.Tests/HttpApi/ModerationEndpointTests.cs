using System.Text.Json;
using TinyChat.Tests.Support;
using static TinyChat.Tests.HttpApi.Api;

namespace TinyChat.Tests.HttpApi;

/// <summary>Private rooms, moderation, topics, edits and deletions over the HTTP API (docs/http-api.md), on a real server.</summary>
[TestFixture]
public sealed class ModerationEndpointTests
{
    private TestServer server = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => server = await TestServer.StartAsync(new Dictionary<string, string> { ["Limits:MaxRoomsCreatedPerUser"] = "100", ["Limits:RegistrationsPerMinutePerAddress"] = "1000" });

    [OneTimeTearDown]
    public async Task StopAsync() => await server.DisposeAsync();

    private HttpClient Http => server.Http;

    private Task<(int Status, JsonElement Body, HttpResponseMessage Response)> PostAsync(string path, string token, object body) =>
        SendAsync(Http, HttpMethod.Post, path, token, JsonSerializer.Serialize(body));

    private async Task<(string Owner, string Member)> RoomWithMemberAsync(string room, bool isPrivate = false)
    {
        var owner = await server.RegisterAsync(room + "_own");
        var member = await server.RegisterAsync(room + "_mem");
        Assert.That((await PostAsync("/api/rooms", owner, new { room, @private = isPrivate })).Status, Is.EqualTo(201));
        Assert.That((await SendAsync(Http, HttpMethod.Put, $"/api/rooms/{room}/membership", owner)).Status, Is.EqualTo(201));
        if (isPrivate)
        {
            Assert.That((await PostAsync($"/api/rooms/{room}/invite", owner, new { user = room + "_mem" })).Status, Is.EqualTo(200));
        }

        Assert.That((await SendAsync(Http, HttpMethod.Put, $"/api/rooms/{room}/membership", member)).Status, Is.EqualTo(201));
        return (owner, member);
    }

    private async Task<List<JsonElement>> HistoryAsync(string room, string token)
    {
        var (status, body, _) = await GetAsync(Http, $"/api/rooms/{room}/messages", token);
        Assert.That(status, Is.EqualTo(200));
        return [.. body.GetProperty("messages").EnumerateArray()];
    }

    [Test]
    public async Task A_private_room_is_joined_only_by_invitation_and_shows_its_details_to_members()
    {
        var owner = await server.RegisterAsync("hush_own");
        var guest = await server.RegisterAsync("hush_guest");
        Assert.That((await PostAsync("/api/rooms", owner, new { room = "hush", @private = true })).Status, Is.EqualTo(201));
        Assert.That((await SendAsync(Http, HttpMethod.Put, "/api/rooms/hush/membership", owner)).Status, Is.EqualTo(201));

        var (refused, why, _) = await SendAsync(Http, HttpMethod.Put, "/api/rooms/hush/membership", guest);
        Assert.That((refused, why.GetProperty("code").GetString()), Is.EqualTo((403, "not_invited")));
        Assert.That((await GetAsync(Http, "/api/rooms", guest)).Body.GetProperty("rooms").EnumerateArray().Select(e => e.GetString()), Does.Not.Contain("hush"));

        var (invited, reply, _) = await PostAsync("/api/rooms/hush/invite", owner, new { user = "hush_guest" });
        Assert.That(invited, Is.EqualTo(200));
        Assert.That(reply.GetProperty("id").GetInt64(), Is.GreaterThan(0));
        Assert.That((await SendAsync(Http, HttpMethod.Put, "/api/rooms/hush/membership", guest)).Status, Is.EqualTo(201));

        var (status, details, _) = await GetAsync(Http, "/api/rooms/hush", guest);
        Assert.That(status, Is.EqualTo(200));
        Assert.That(details.GetProperty("private").GetBoolean(), Is.True);
        Assert.That(details.GetProperty("role").GetString(), Is.EqualTo("member"));
        Assert.That(details.GetProperty("owner").GetString(), Is.EqualTo("hush_own"));
    }

    [Test]
    public async Task A_member_cannot_moderate_and_the_refusal_changes_nothing()
    {
        var (owner, member) = await RoomWithMemberAsync("calm");
        var before = await HistoryAsync("calm", owner);
        foreach (var action in new[] { "kick", "ban", "mute" })
        {
            var (status, body, _) = await PostAsync($"/api/rooms/calm/{action}", member, new { user = "calm_own" });
            Assert.That((status, body.GetProperty("code").GetString()), Is.EqualTo((403, "forbidden")), action);
        }

        var (topicStatus, topicBody, _) = await SendAsync(Http, HttpMethod.Put, "/api/rooms/calm/topic", member, """{"topic":"mine now"}""");
        Assert.That((topicStatus, topicBody.GetProperty("code").GetString()), Is.EqualTo((403, "forbidden")));
        Assert.That(await HistoryAsync("calm", owner), Has.Count.EqualTo(before.Count));
        Assert.That((await GetAsync(Http, "/api/rooms/calm", owner)).Body.GetProperty("topic").GetString(), Is.EqualTo(""));
    }

    [Test]
    public async Task A_moderator_sets_the_topic_mutes_and_bans_and_each_is_stored_in_order()
    {
        var (owner, member) = await RoomWithMemberAsync("ops");
        Assert.That((await PostAsync("/api/rooms/ops/role", owner, new { user = "ops_mem", role = "moderator" })).Status, Is.EqualTo(200));
        var (set, setBody, _) = await SendAsync(Http, HttpMethod.Put, "/api/rooms/ops/topic", member, """{"topic":"release friday"}""");
        Assert.That(set, Is.EqualTo(200));
        Assert.That((await GetAsync(Http, "/api/rooms/ops", owner)).Body.GetProperty("topic").GetString(), Is.EqualTo("release friday"));

        var spammer = await server.RegisterAsync("ops_spam");
        await SendAsync(Http, HttpMethod.Put, "/api/rooms/ops/membership", spammer);
        Assert.That((await PostAsync("/api/rooms/ops/mute", member, new { user = "ops_spam", seconds = 60 })).Status, Is.EqualTo(200));
        var (muted, mutedBody, _) = await PostMessageAsync(Http, "/api/rooms/ops/messages", spammer, "buy now");
        Assert.That((muted, mutedBody.GetProperty("code").GetString()), Is.EqualTo((403, "muted")));
        Assert.That((await PostAsync("/api/rooms/ops/ban", member, new { user = "ops_spam" })).Status, Is.EqualTo(200));
        var (banned, bannedBody, _) = await SendAsync(Http, HttpMethod.Put, "/api/rooms/ops/membership", spammer);
        Assert.That((banned, bannedBody.GetProperty("code").GetString()), Is.EqualTo((403, "banned")));
        var (twice, twiceBody, _) = await PostAsync("/api/rooms/ops/ban", member, new { user = "ops_spam" });
        Assert.That((twice, twiceBody.GetProperty("code").GetString()), Is.EqualTo((409, "invalid_target")));

        var events = (await HistoryAsync("ops", owner)).Where(m => m.TryGetProperty("event", out _)).ToList();
        Assert.That(events.Select(e => e.GetProperty("event").GetString()), Is.EqualTo(new[] { "role", "topic", "mute", "ban" }));
        Assert.That(events[1].GetProperty("id").GetInt64(), Is.EqualTo(setBody.GetProperty("id").GetInt64()));
        Assert.That((await PostAsync("/api/rooms/ops/unban", member, new { user = "ops_spam" })).Status, Is.EqualTo(200));
        Assert.That((await SendAsync(Http, HttpMethod.Put, "/api/rooms/ops/membership", spammer)).Status, Is.EqualTo(201));
    }

    [Test]
    public async Task Authors_edit_and_delete_their_messages_and_nobody_else_can()
    {
        var (owner, member) = await RoomWithMemberAsync("drafts");
        var (_, posted, _) = await PostMessageAsync(Http, "/api/rooms/drafts/messages", member, "teh plan");
        var id = posted.GetProperty("id").GetInt64();

        var (notYours, notYoursBody, _) = await SendAsync(Http, HttpMethod.Patch, $"/api/rooms/drafts/messages/{id}", owner, """{"message":"hijack"}""");
        Assert.That((notYours, notYoursBody.GetProperty("code").GetString()), Is.EqualTo((403, "forbidden")));
        Assert.That((await SendAsync(Http, HttpMethod.Patch, $"/api/rooms/drafts/messages/{id}", member, """{"message":"the plan"}""")).Status, Is.EqualTo(200));
        var edited = (await HistoryAsync("drafts", owner)).Single(m => m.GetProperty("id").GetInt64() == id);
        Assert.That(edited.GetProperty("message").GetString(), Is.EqualTo("the plan"));
        Assert.That(edited.TryGetProperty("edited", out _), Is.True);

        Assert.That((await SendAsync(Http, HttpMethod.Delete, $"/api/rooms/drafts/messages/{id}", member)).Status, Is.EqualTo(200));
        var tombstone = (await HistoryAsync("drafts", owner)).Single(m => m.GetProperty("id").GetInt64() == id);
        Assert.That(tombstone.GetProperty("deleted").GetBoolean(), Is.True);
        Assert.That(tombstone.TryGetProperty("message", out _), Is.False);

        foreach (var missing in new[] { id.ToString(System.Globalization.CultureInfo.InvariantCulture), "999999", "abc" })
        {
            var (status, body, _) = await SendAsync(Http, HttpMethod.Delete, $"/api/rooms/drafts/messages/{missing}", member);
            Assert.That((status, body.GetProperty("code").GetString()), Is.EqualTo((404, "message_not_found")), missing);
        }
    }

    [Test]
    public async Task Bad_moderation_requests_are_refused_with_clear_codes()
    {
        var (owner, _) = await RoomWithMemberAsync("strict");
        async Task ExpectAsync(int status, string code, HttpMethod method, string path, string body)
        {
            var (got, reply, _) = await SendAsync(Http, method, path, owner, body);
            Assert.That((got, reply.GetProperty("code").GetString()), Is.EqualTo((status, code)), $"{method} {path} {body}");
        }

        await ExpectAsync(422, "invalid_field", HttpMethod.Post, "/api/rooms/strict/kick", "{}");
        await ExpectAsync(422, "invalid_field", HttpMethod.Post, "/api/rooms/strict/role", """{"user":"strict_mem","role":"king"}""");
        await ExpectAsync(422, "invalid_field", HttpMethod.Post, "/api/rooms/strict/mute", """{"user":"strict_mem","seconds":0}""");
        await ExpectAsync(422, "invalid_field", HttpMethod.Post, "/api/rooms/strict/kick", """{"user":"strict_mem","seconds":5}""");
        await ExpectAsync(422, "invalid_field", HttpMethod.Post, "/api/rooms/strict/kick", """{"user":["strict_mem"]}""");
        await ExpectAsync(404, "user_not_found", HttpMethod.Post, "/api/rooms/strict/kick", """{"user":"nobody_here"}""");
        await ExpectAsync(404, "room_not_found", HttpMethod.Post, "/api/rooms/nowhere/kick", """{"user":"strict_mem"}""");
        await ExpectAsync(409, "invalid_target", HttpMethod.Post, "/api/rooms/strict/invite", """{"user":"strict_mem"}""");
        await ExpectAsync(422, "topic_too_long", HttpMethod.Put, "/api/rooms/strict/topic", JsonSerializer.Serialize(new { topic = new string('t', 301) }));
        await ExpectAsync(422, "invalid_field", HttpMethod.Post, "/api/rooms", """{"room":"weird","private":"yes"}""");
        await ExpectAsync(400, "invalid_json", HttpMethod.Post, "/api/rooms/strict/ban", "{nope");
        var (wrongMethod, _, response) = await SendAsync(Http, HttpMethod.Get, "/api/rooms/strict/kick", owner);
        Assert.That(wrongMethod, Is.EqualTo(405));
        Assert.That(response.Content.Headers.Allow, Is.EquivalentTo(new[] { "POST" }));
    }

    [Test]
    public async Task Only_a_server_admin_deletes_a_room_and_its_members_lose_it()
    {
        var (owner, member) = await RoomWithMemberAsync("doomed");
        var (refused, why, _) = await SendAsync(Http, HttpMethod.Delete, "/api/rooms/doomed", owner);
        Assert.That((refused, why.GetProperty("code").GetString()), Is.EqualTo((403, "forbidden")));
        var (defaultRoom, defaultWhy, _) = await SendAsync(Http, HttpMethod.Delete, "/api/rooms/default", "foo_token");
        Assert.That((defaultRoom, defaultWhy.GetProperty("code").GetString()), Is.EqualTo((409, "invalid_target")));

        Assert.That((await SendAsync(Http, HttpMethod.Delete, "/api/rooms/doomed", "foo_token")).Status, Is.EqualTo(204));
        Assert.That((await GetAsync(Http, "/api/rooms/doomed", member)).Status, Is.EqualTo(404));
        Assert.That((await GetAsync(Http, "/api/me", member)).Body.GetProperty("joined").EnumerateArray().Select(e => e.GetString()), Does.Not.Contain("doomed"));
        Assert.That((await SendAsync(Http, HttpMethod.Delete, "/api/rooms/doomed", "foo_token")).Status, Is.EqualTo(404));
    }

    [Test]
    public async Task A_room_stream_renders_room_events_with_their_ids()
    {
        var (owner, member) = await RoomWithMemberAsync("watched");
        await using var stream = await SseClient.OpenAsync(server.BaseUri, "/api/rooms/watched/events", member);
        await stream.ExpectAsync(e => e.Event == "presence_state");
        var (_, set, _) = await SendAsync(Http, HttpMethod.Put, "/api/rooms/watched/topic", owner, """{"topic":"quiet please"}""");
        var topic = await stream.ExpectAsync(e => e.Event == "room_event");
        Assert.That(topic.Id, Is.EqualTo(set.GetProperty("id").GetInt64().ToString(System.Globalization.CultureInfo.InvariantCulture)));
        var data = JsonDocument.Parse(topic.Data!).RootElement;
        Assert.That(data.GetProperty("event").GetString(), Is.EqualTo("topic"));
        Assert.That(data.GetProperty("topic").GetString(), Is.EqualTo("quiet please"));
    }
}
