using System.Net.Sockets;
using System.Text;
using TinyChat.Tests.Support;
using static TinyChat.Tests.HttpApi.Api;

namespace TinyChat.Tests.HttpApi;

[TestFixture]
public sealed class RestEndpointTests
{
    private TestServer server = null!;

    [OneTimeSetUp]
    public async Task StartAsync() => server = await TestServer.StartAsync(new Dictionary<string, string> { ["Limits:MaxRoomsCreatedPerUser"] = "100" });

    [OneTimeTearDown]
    public async Task StopAsync() => await server.DisposeAsync();

    private HttpClient Http => server.Http;

    [Test]
    public async Task Me_names_the_user_and_the_rooms_joined()
    {
        var token = await server.RegisterAsync("me_user");
        Assert.That((await SendAsync(Http, HttpMethod.Put, "/api/rooms/default/membership", token)).Status, Is.EqualTo(201));
        var (status, body, _) = await GetAsync(Http, "/api/me", token);
        Assert.That(status, Is.EqualTo(200));
        Assert.That(body.GetProperty("username").GetString(), Is.EqualTo("me_user"));
        Assert.That(body.GetProperty("joined").EnumerateArray().Select(e => e.GetString()), Is.EqualTo(new[] { "default" }));
    }

    [Test]
    public async Task Without_a_valid_token_every_endpoint_answers_401_with_a_bearer_challenge()
    {
        foreach (var path in new[] { "/api/me", "/api/rooms", "/api/rooms/default/messages", "/api/rooms/default/presence", "/api/users/foo_user/messages", "/api/events" })
        {
            var (missing, body, response) = await GetAsync(Http, path, null);
            Assert.That(missing, Is.EqualTo(401), path);
            Assert.That(body.GetProperty("code").GetString(), Is.EqualTo("missing_token"), path);
            Assert.That(response.Headers.WwwAuthenticate.ToString(), Is.EqualTo("Bearer"), path);
            var (invalid, invalidBody, _) = await GetAsync(Http, path, "not-a-token");
            Assert.That(invalid, Is.EqualTo(401), path);
            Assert.That(invalidBody.GetProperty("code").GetString(), Is.EqualTo("invalid_token"), path);
        }
    }

    [Test]
    public async Task The_access_token_query_parameter_is_accepted()
    {
        var (status, body, _) = await GetAsync(Http, "/api/me?access_token=bar_token", null);
        Assert.That(status, Is.EqualTo(200));
        Assert.That(body.GetProperty("username").GetString(), Is.EqualTo("bar_user"));
    }

    [Test]
    public async Task Creating_a_room_answers_201_with_its_location_and_409_the_second_time()
    {
        var token = await server.RegisterAsync("creator");
        var (status, body, response) = await SendAsync(Http, HttpMethod.Post, "/api/rooms", token, """{"room":"builds"}""");
        Assert.That(status, Is.EqualTo(201));
        Assert.That(body.GetProperty("room").GetString(), Is.EqualTo("builds"));
        Assert.That(response.Headers.Location?.ToString(), Is.EqualTo("/api/rooms/builds"));
        Assert.That((await GetAsync(Http, "/api/rooms/builds", token)).Status, Is.EqualTo(200));
        Assert.That((await SendAsync(Http, HttpMethod.Post, "/api/rooms", token, """{"room":"builds"}""")).Status, Is.EqualTo(409));

        var (listed, list, _) = await GetAsync(Http, "/api/rooms", token);
        Assert.That(listed, Is.EqualTo(200));
        Assert.That(list.GetProperty("rooms").EnumerateArray().Select(e => e.GetString()), Does.Contain("builds").And.Contain("default"));
        Assert.That(list.GetProperty("joined").GetArrayLength(), Is.EqualTo(0));
    }

    [Test]
    public async Task Bad_bodies_answer_400_415_and_422()
    {
        var token = await server.RegisterAsync("sloppy");
        await SendAsync(Http, HttpMethod.Put, "/api/rooms/default/membership", token);
        Assert.That((await SendAsync(Http, HttpMethod.Post, "/api/rooms/default/messages", token, "{not json")).Status, Is.EqualTo(400));
        var (wrongType, body, _) = await SendAsync(Http, HttpMethod.Post, "/api/rooms/default/messages", token, """{"message":42}""");
        Assert.That(wrongType, Is.EqualTo(422));
        Assert.That(body.GetProperty("code").GetString(), Is.EqualTo("invalid_field"));
        Assert.That((await SendAsync(Http, HttpMethod.Post, "/api/rooms/default/messages", token, """{"text":"hi"}""")).Status, Is.EqualTo(422));
        Assert.That((await SendAsync(Http, HttpMethod.Post, "/api/rooms/default/messages", token, """{"message":""}""")).Status, Is.EqualTo(422));
        Assert.That((await SendAsync(Http, HttpMethod.Post, "/api/rooms/default/messages", token, "hello", "text/plain")).Status, Is.EqualTo(415));
        Assert.That((await SendAsync(Http, HttpMethod.Post, "/api/rooms", token, """{"room":"no spaces"}""")).Status, Is.EqualTo(422));
    }

    [Test]
    public async Task Room_messages_need_membership_and_the_room_to_exist()
    {
        var token = await server.RegisterAsync("outsider");
        var (notMember, body, _) = await PostMessageAsync(Http, "/api/rooms/default/messages", token, "hi");
        Assert.That(notMember, Is.EqualTo(403));
        Assert.That(body.GetProperty("code").GetString(), Is.EqualTo("not_a_member"));
        Assert.That((await GetAsync(Http, "/api/rooms/default/messages", token)).Status, Is.EqualTo(403));
        Assert.That((await GetAsync(Http, "/api/rooms/default/presence", token)).Status, Is.EqualTo(403));
        Assert.That((await PostMessageAsync(Http, "/api/rooms/nowhere/messages", token, "hi")).Status, Is.EqualTo(404));
        Assert.That((await SendAsync(Http, HttpMethod.Put, "/api/rooms/nowhere/membership", token)).Status, Is.EqualTo(404));
        Assert.That((await SendAsync(Http, HttpMethod.Delete, "/api/rooms/default/membership", token)).Status, Is.EqualTo(404));
    }

    [Test]
    public async Task Join_post_read_and_leave_a_room_with_json_and_form_posts()
    {
        var token = await server.RegisterAsync("poster");
        await SendAsync(Http, HttpMethod.Post, "/api/rooms", token, "room=deploys", "application/x-www-form-urlencoded");
        Assert.That((await SendAsync(Http, HttpMethod.Put, "/api/rooms/deploys/membership", token)).Status, Is.EqualTo(201));
        Assert.That((await SendAsync(Http, HttpMethod.Put, "/api/rooms/deploys/membership", token)).Status, Is.EqualTo(200), "PUT is idempotent");

        var (posted, body, response) = await PostMessageAsync(Http, "/api/rooms/deploys/messages", token, "deploy finished");
        Assert.That(posted, Is.EqualTo(201));
        var id = body.GetProperty("id").GetInt64();
        Assert.That(response.Headers.Location?.ToString(), Is.EqualTo($"/api/rooms/deploys/messages?after={id - 1}&limit=1"));
        var (formPosted, _, _) = await SendAsync(Http, HttpMethod.Post, "/api/rooms/deploys/messages", token, "message=from+a+form%21", "application/x-www-form-urlencoded");
        Assert.That(formPosted, Is.EqualTo(201));

        var (read, page, _) = await GetAsync(Http, "/api/rooms/deploys/messages?limit=10", token);
        Assert.That(read, Is.EqualTo(200));
        Assert.That(page.GetProperty("messages").EnumerateArray().Select(m => m.GetProperty("message").GetString()), Is.EqualTo(new[] { "deploy finished", "from a form!" }));
        var (_, after, _) = await GetAsync(Http, $"/api/rooms/deploys/messages?after={id}", token);
        Assert.That(after.GetProperty("messages").GetArrayLength(), Is.EqualTo(1));
        Assert.That((await GetAsync(Http, "/api/rooms/deploys/messages?before=2&after=1", token)).Status, Is.EqualTo(422));
        Assert.That((await GetAsync(Http, "/api/rooms/deploys/messages?limit=lots", token)).Status, Is.EqualTo(422));

        var (present, presence, _) = await GetAsync(Http, "/api/rooms/deploys/presence", token);
        Assert.That(present, Is.EqualTo(200));
        Assert.That(presence.GetProperty("room").GetString(), Is.EqualTo("deploys"));

        Assert.That((await SendAsync(Http, HttpMethod.Delete, "/api/rooms/deploys/membership", token)).Status, Is.EqualTo(204));
        Assert.That((await PostMessageAsync(Http, "/api/rooms/deploys/messages", token, "gone")).Status, Is.EqualTo(403));
    }

    [Test]
    public async Task A_bot_that_only_uses_the_api_never_appears_online()
    {
        var bot = await server.RegisterAsync("rest_only_bot");
        var watcherToken = await server.RegisterAsync("presence_watcher");
        await SendAsync(Http, HttpMethod.Post, "/api/rooms", watcherToken, """{"room":"botroom"}""");
        await using var watcher = await server.ConnectAsync(watcherToken);
        await watcher.RequestAsync(new() { ["command"] = "join", ["room"] = "botroom" });

        Assert.That((await SendAsync(Http, HttpMethod.Put, "/api/rooms/botroom/membership", bot)).Status, Is.EqualTo(201));
        Assert.That((await PostMessageAsync(Http, "/api/rooms/botroom/messages", bot, "build green")).Status, Is.EqualTo(201));
        var (_, presence, _) = await GetAsync(Http, "/api/rooms/botroom/presence", bot);
        Assert.That(presence.GetProperty("presence_state").EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "presence_watcher" }), "the asking request is not online either");
        Assert.That((await SendAsync(Http, HttpMethod.Delete, "/api/rooms/botroom/membership", bot)).Status, Is.EqualTo(204));

        // Everything the room broadcast up to the watcher's own marker: the bot's message, and no presence of the bot.
        await watcher.SendAsync(new { room = "botroom", message = "marker" });
        var seen = new List<System.Text.Json.JsonElement>();
        for (var i = 0; i < 20; i++)
        {
            var frame = await watcher.ReceiveAsync();
            if (frame.TryGetProperty("message", out var m) && m.GetString() == "marker")
            {
                break;
            }

            seen.Add(frame);
        }

        Assert.That(seen.Where(f => f.TryGetProperty("message", out _)).Select(f => f.GetProperty("from").GetString()), Is.EqualTo(new[] { "rest_only_bot" }));
        Assert.That(seen.Where(f => f.TryGetProperty("presence_diff", out _)).Select(f => f.GetRawText()).Where(t => t.Contains("rest_only_bot", StringComparison.Ordinal)), Is.Empty);
    }

    [Test]
    public async Task Private_messages_post_and_read_both_ways()
    {
        var alice = await server.RegisterAsync("pm_alice");
        var bob = await server.RegisterAsync("pm_bob");
        var (status, body, response) = await PostMessageAsync(Http, "/api/users/pm_bob/messages", alice, "psst");
        Assert.That(status, Is.EqualTo(201));
        Assert.That(body.GetProperty("to").GetString(), Is.EqualTo("pm_bob"));
        Assert.That(response.Headers.Location, Is.Not.Null);
        var (read, page, _) = await GetAsync(Http, "/api/users/pm_alice/messages", bob);
        Assert.That(read, Is.EqualTo(200));
        Assert.That(page.GetProperty("messages")[0].GetProperty("message").GetString(), Is.EqualTo("psst"));
        Assert.That((await PostMessageAsync(Http, "/api/users/nobody_here/messages", alice, "hi")).Status, Is.EqualTo(404));
        Assert.That((await GetAsync(Http, "/api/users/nobody_here/messages", alice)).Status, Is.EqualTo(404));
    }

    [Test]
    public async Task Unknown_routes_answer_404_and_wrong_methods_405_with_allow()
    {
        Assert.That((await GetAsync(Http, "/api/rooms/default/nothing", "foo_token")).Status, Is.EqualTo(404));
        Assert.That((await GetAsync(Http, "/api/users/foo_user", "foo_token")).Status, Is.EqualTo(404));
        var (status, _, response) = await SendAsync(Http, HttpMethod.Delete, "/api/rooms/default/messages", "foo_token");
        Assert.That(status, Is.EqualTo(405));
        Assert.That(response.Content.Headers.Allow, Is.EquivalentTo(new[] { "GET", "POST" }));
        var (membership, _, membershipResponse) = await GetAsync(Http, "/api/rooms/default/membership", "foo_token");
        Assert.That(membership, Is.EqualTo(405));
        Assert.That(membershipResponse.Content.Headers.Allow, Is.EquivalentTo(new[] { "PUT", "DELETE" }));
        Assert.That((await SendAsync(Http, HttpMethod.Post, "/api/events", "foo_token")).Status, Is.EqualTo(405));
        Assert.That((await SendAsync(Http, HttpMethod.Delete, "/api/me", "foo_token")).Status, Is.EqualTo(405));
    }

    [Test]
    public async Task A_retried_post_with_the_same_idempotency_key_is_stored_once()
    {
        var token = await server.RegisterAsync("flaky_bot");
        await SendAsync(Http, HttpMethod.Put, "/api/rooms/default/membership", token);
        var first = await PostMessageAsync(Http, "/api/rooms/default/messages", token, "exactly once", "key-1");
        var retries = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => PostMessageAsync(Http, "/api/rooms/default/messages", token, "exactly once", "key-1")));
        Assert.That(first.Status, Is.EqualTo(201));
        foreach (var retry in retries)
        {
            Assert.That(retry.Status, Is.EqualTo(201));
            Assert.That(retry.Body.GetProperty("id").GetInt64(), Is.EqualTo(first.Body.GetProperty("id").GetInt64()));
            Assert.That(retry.Response.Headers.GetValues("Idempotent-Replayed"), Is.EqualTo(new[] { "true" }));
        }

        var reused = await PostMessageAsync(Http, "/api/rooms/default/messages", token, "something else", "key-1");
        Assert.That(reused.Status, Is.EqualTo(422));
        Assert.That(reused.Body.GetProperty("code").GetString(), Is.EqualTo("idempotency_key_reused"));
        var other = await PostMessageAsync(Http, "/api/rooms/default/messages", token, "exactly once", "key-2");
        Assert.That(other.Body.GetProperty("id").GetInt64(), Is.GreaterThan(first.Body.GetProperty("id").GetInt64()));

        var (_, page, _) = await GetAsync(Http, "/api/rooms/default/messages?limit=200", token);
        Assert.That(page.GetProperty("messages").EnumerateArray().Count(m => m.GetProperty("from").GetString() == "flaky_bot"), Is.EqualTo(2));

        // Another user's key space is separate: the same key is a new post of theirs.
        await SendAsync(Http, HttpMethod.Put, "/api/rooms/default/membership", "bar_token");
        var another = await PostMessageAsync(Http, "/api/rooms/default/messages", "bar_token", "exactly once", "key-1");
        Assert.That((another.Status, another.Response.Headers.Contains("Idempotent-Replayed")), Is.EqualTo((201, false)));
        Assert.That(another.Body.GetProperty("id").GetInt64(), Is.GreaterThan(other.Body.GetProperty("id").GetInt64()));
    }

    [Test]
    public async Task A_one_field_body_names_the_field_it_misses_and_ignores_the_others()
    {
        // A seeded user: this fixture's registrations are near the per-address limit already.
        const string token = "bar_token";
        await SendAsync(Http, HttpMethod.Put, "/api/rooms/default/membership", token);
        foreach (var body in new[] { """{"message":42}""", """{"message":null}""", """{"message":["hi"]}""", """["hi"]""", """{"text":"hi"}""" })
        {
            var (status, refusal, _) = await SendAsync(Http, HttpMethod.Post, "/api/rooms/default/messages", token, body);
            Assert.That((status, refusal.GetProperty("error").GetString()), Is.EqualTo((422, "expected a JSON object with a string field \"message\"")), body);
        }

        var (formStatus, formRefusal, _) = await SendAsync(Http, HttpMethod.Post, "/api/rooms/default/messages", token, "text=hi", "application/x-www-form-urlencoded");
        Assert.That((formStatus, formRefusal.GetProperty("error").GetString()), Is.EqualTo((422, "the form needs a field \"message\"")));
        Assert.That((await SendAsync(Http, HttpMethod.Post, "/api/rooms/default/messages", token, """{"message":"hi","meta":{"client":"bot"}}""")).Status, Is.EqualTo(201), "other fields are not looked at");
        Assert.That((await SendAsync(Http, HttpMethod.Put, "/api/rooms/default/topic", token, """{"topic":7}""")).Body.GetProperty("error").GetString(), Is.EqualTo("expected a JSON object with a string field \"topic\""));
    }

    [Test]
    public async Task An_oversized_body_answers_413_without_the_server_reading_it()
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.BaseUri.Host, server.BaseUri.Port);
        var stream = tcp.GetStream();
        var head = "POST /api/rooms/default/messages HTTP/1.1\r\nHost: " + server.BaseUri.Authority
            + "\r\nAuthorization: Bearer foo_token\r\nContent-Type: application/json\r\nContent-Length: 1000000\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head + "{\"message\":\"" + new string('x', 1000)));

        // The answer comes although most of the announced body was never sent, and the server ends the connection.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var received = new MemoryStream();
        var buffer = new byte[4096];
        int read;
        while ((read = await stream.ReadAsync(buffer, timeout.Token)) > 0)
        {
            received.Write(buffer, 0, read);
        }

        var answer = Encoding.ASCII.GetString(received.ToArray());
        Assert.That(answer, Does.StartWith("HTTP/1.1 413"));
        Assert.That(answer, Does.Contain("body_too_large"));
    }
}

[TestFixture]
public sealed class RestLimitTests
{
    [Test]
    public async Task A_flood_of_posts_answers_429_with_retry_after()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Limits:MessagesPerSecond"] = "0.01", ["Limits:MessageBurst"] = "2" });
        await SendAsync(server.Http, HttpMethod.Put, "/api/rooms/default/membership", "foo_token");
        var statuses = new List<int>();
        HttpResponseMessage? limited = null;
        for (var i = 0; i < 4; i++)
        {
            var (status, _, response) = await PostMessageAsync(server.Http, "/api/rooms/default/messages", "foo_token", $"m{i}");
            statuses.Add(status);
            limited = status == 429 ? response : limited;
        }

        Assert.That(statuses, Is.EqualTo(new[] { 201, 201, 429, 429 }), "the message budget is the user's, kept across short API connections");
        Assert.That(limited!.Headers.RetryAfter?.Delta, Is.EqualTo(TimeSpan.FromSeconds(1)));
    }

    [Test]
    public async Task Requests_beyond_the_per_user_rate_answer_429()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Limits:FramesPerSecond"] = "0.01", ["Limits:FrameBurst"] = "3" });
        var statuses = new List<int>();
        for (var i = 0; i < 5; i++)
        {
            statuses.Add((await GetAsync(server.Http, "/api/me", "foo_token")).Status);
        }

        Assert.That(statuses, Is.EqualTo(new[] { 200, 200, 200, 429, 429 }));
    }

    [Test]
    public async Task A_room_quota_answers_403()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Limits:MaxRoomsCreatedPerUser"] = "1" });
        Assert.That((await SendAsync(server.Http, HttpMethod.Post, "/api/rooms", "foo_token", """{"room":"one"}""")).Status, Is.EqualTo(201));
        var (status, body, _) = await SendAsync(server.Http, HttpMethod.Post, "/api/rooms", "foo_token", """{"room":"two"}""");
        Assert.That(status, Is.EqualTo(403));
        Assert.That(body.GetProperty("code").GetString(), Is.EqualTo("room_quota"));
    }
}
