using System.Text.Json;
using TinyChat.Tests.HttpApi;
using TinyChat.Tests.Irc;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Acceptance;

/// <summary>
/// A room with more members online than <c>Presence:FullStateMaxMembers</c> (2 here) over real sockets: counts
/// instead of names for everyone, <c>who</c> in pages, at every front door (docs/protocol.md, Presence).
/// </summary>
public sealed class BigRoomPresenceTests
{
    private TestServer server = null!;

    [SetUp]
    public async Task StartServer() => server = await TestServer.StartAsync(new Dictionary<string, string>
    {
        ["Presence:FullStateMaxMembers"] = "2",
        ["Presence:TickMilliseconds"] = "50",
        ["Irc:ServerName"] = "irc.test",
        ["Limits:RegistrationsPerMinutePerAddress"] = "1000",
    });

    [TearDown]
    public async Task StopServer() => await server.DisposeAsync();

    private static bool IsCount(JsonElement frame, int online) =>
        frame.TryGetProperty("presence_count", out var count) && count.GetProperty("online").GetInt32() == online;

    private static string[] Names(JsonElement frame) => [.. frame.GetProperty("presence_state").EnumerateObject().Select(p => p.Name)];

    private async Task<ChatSocket> JoinedAsync(string token, string room = "default")
    {
        var socket = await server.ConnectAsync(token);
        await socket.RequestAsync(new() { ["command"] = "join", ["room"] = room });
        return socket;
    }

    // foo and bar (the seed users) and carol: three online, one more than the list holds.
    private async Task<(ChatSocket Foo, ChatSocket Bar, ChatSocket Carol)> ThreeOnlineAsync()
    {
        var carolToken = await server.RegisterAsync("carol");
        var foo = await JoinedAsync("foo_token");
        var bar = await JoinedAsync("bar_token");
        var carol = await JoinedAsync(carolToken);
        return (foo, bar, carol);
    }

    [Test]
    public async Task Native_clients_of_a_big_room_get_the_count_and_page_through_who()
    {
        var (foo, bar, carol) = await ThreeOnlineAsync();
        await using var _foo = foo;
        await using var _bar = bar;
        await using var _carol = carol;

        // The room grew past the list: everyone is told how many, once.
        await foo.ExpectAsync(f => IsCount(f, 3));
        await bar.ExpectAsync(f => IsCount(f, 3));

        var first = await foo.RequestAsync(new() { ["command"] = "who", ["room"] = "default" });
        Assert.That(Names(first), Is.EqualTo(new[] { "bar_user", "carol" }), "a plain who is the first page");
        Assert.That(first.GetProperty("online").GetInt32(), Is.EqualTo(3));
        Assert.That(first.GetProperty("next").GetString(), Is.EqualTo("carol"));
        var last = await foo.RequestAsync(new() { ["command"] = "who", ["room"] = "default", ["after"] = "carol", ["limit"] = 5 });
        Assert.That(Names(last), Is.EqualTo(new[] { "foo_user" }));
        Assert.That(last.GetProperty("next").ValueKind, Is.EqualTo(JsonValueKind.Null));

        // A fourth joiner is greeted with the count, not the names; everyone then counts four.
        await using var dave = await server.ConnectAsync(await server.RegisterAsync("dave"));
        await dave.RequestAsync(new() { ["command"] = "join", ["room"] = "default" });
        var greeting = await dave.ExpectAsync(f => f.TryGetProperty("presence_count", out _) || f.TryGetProperty("presence_state", out _));
        Assert.That(IsCount(greeting, 4), Is.True, "greeted within the tick that announces the joiner, it still counts itself: " + greeting);

        await foo.ExpectAsync(f => IsCount(f, 4));

        // Leaving: the others count again, the leaver hears its own leave.
        await dave.SendAsync(new { command = "leave", room = "default" });
        await dave.ExpectAsync(f => f.TryGetProperty("presence_diff", out var diff) && diff.GetProperty("leaves").TryGetProperty("dave", out _));
        await foo.ExpectAsync(f => IsCount(f, 3));

        // Back to two: the list is shown again, whole.
        await carol.RequestAsync(new() { ["command"] = "leave", ["room"] = "default" });
        var relisted = await foo.ExpectAsync(f => f.TryGetProperty("presence_state", out _));
        Assert.That(Names(relisted), Is.EquivalentTo(new[] { "bar_user", "foo_user" }));
    }

    [TestCase("{\"command\":\"who\",\"room\":\"default\",\"limit\":0}", "bad_request")]
    [TestCase("{\"command\":\"who\",\"room\":\"default\",\"after\":5}", "bad_request")]
    [TestCase("{\"command\":\"who\",\"room\":\"default\",\"after\":\"x\",\"limit\":-1}", "bad_request")]
    [TestCase("{\"command\":\"who\",\"room\":\"nowhere\",\"after\":\"x\"}", "room_not_found")]
    public async Task A_bad_who_page_is_refused_with_a_clear_error(string frame, string code)
    {
        await using var foo = await JoinedAsync("foo_token");
        await foo.SendTextAsync(frame);
        var error = await foo.ExpectAsync(f => f.TryGetProperty("error", out _));
        Assert.That(error.GetProperty("code").GetString(), Is.EqualTo(code), error.ToString());
    }

    [Test]
    public async Task Who_pages_a_small_room_too_when_asked_and_lists_it_whole_otherwise()
    {
        await using var foo = await JoinedAsync("foo_token");
        await using var bar = await JoinedAsync("bar_token");
        var whole = await foo.RequestAsync(new() { ["command"] = "who", ["room"] = "default" });
        Assert.That(Names(whole), Is.EquivalentTo(new[] { "bar_user", "foo_user" }));
        Assert.That(whole.TryGetProperty("online", out _), Is.False, "a small room's who is the full state, as before");

        var page = await foo.RequestAsync(new() { ["command"] = "who", ["room"] = "default", ["limit"] = 1 });
        Assert.That(Names(page), Is.EqualTo(new[] { "bar_user" }));
        Assert.That(page.GetProperty("online").GetInt32(), Is.EqualTo(2));
        Assert.That(page.GetProperty("next").GetString(), Is.EqualTo("bar_user"));
    }

    [Test]
    public async Task An_event_stream_of_a_big_room_starts_with_the_count_and_follows_it()
    {
        var (foo, bar, carol) = await ThreeOnlineAsync();
        await using var _foo = foo;
        await using var _bar = bar;
        await using var _carol = carol;
        await foo.ExpectAsync(f => IsCount(f, 3));

        await using var stream = await SseClient.OpenAsync(server.BaseUri, "/api/rooms/default/events", "foo_token");
        var greeting = await stream.ExpectAsync(e => e.Event is "presence_count" or "presence_state");
        Assert.That(greeting.Event, Is.EqualTo("presence_count"));
        Assert.That(JsonDocument.Parse(greeting.Data!).RootElement.GetProperty("presence_count").GetProperty("online").GetInt32(), Is.EqualTo(3));

        await using var dave = await JoinedAsync(await server.RegisterAsync("dave"));
        var counted = await stream.ExpectAsync(e => e.Event == "presence_count" && e.Data!.Contains("\"online\":4", StringComparison.Ordinal));
        Assert.That(counted.Data, Does.Contain("\"room\":\"default\""));
        Assert.That(stream.HasPending("presence_diff"), Is.False, "no names in a big room");

        using var response = await server.Http.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/rooms/default/presence?after=carol&limit=1")
        {
            Headers = { { "Authorization", "Bearer foo_token" } },
        });
        var page = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement;
        Assert.That(Names(page), Is.EqualTo(new[] { "dave" }));
        Assert.That(page.GetProperty("online").GetInt32(), Is.EqualTo(4));
        using var bad = await server.Http.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/rooms/default/presence?limit=0")
        {
            Headers = { { "Authorization", "Bearer foo_token" } },
        });
        Assert.That((int)bad.StatusCode, Is.EqualTo(422));
    }

    [Test]
    public async Task Irc_shows_a_big_room_like_an_auditorium_and_names_lists_everyone()
    {
        var (foo, bar, carol) = await ThreeOnlineAsync();
        await using var _foo = foo;
        await using var _bar = bar;
        await using var _carol = carol;
        await foo.ExpectAsync(f => IsCount(f, 3));

        var daveToken = await server.RegisterAsync("dave");
        await using var dave = await IrcTestClient.RegisterAsync(server, "dave", daveToken);
        await dave.SendAsync("JOIN #default");
        var notice = await dave.ExpectAsync(l => l.Contains(" NOTICE dave :#default has ", StringComparison.Ordinal));
        Assert.That(notice, Does.Contain("users online"));
        var joined = await dave.SyncAsync();

        // Others coming and going are not shown in a big room, and NAMES still lists everyone.
        await using var erin = await JoinedAsync(await server.RegisterAsync("erin"));
        await foo.ExpectAsync(f => IsCount(f, 5));
        await dave.SendAsync("NAMES #default");
        var names = string.Join(" ", (await dave.SyncAsync()).Where(l => l.Contains(" 353 ", StringComparison.Ordinal)).Select(l => l[(l.LastIndexOf(':') + 1)..]));
        Assert.That(names.Split(' ').Select(n => n.TrimStart('@')), Is.EquivalentTo(new[] { "bar_user", "carol", "dave", "erin", "foo_user" }));
        Assert.That(joined.Concat(await dave.SyncAsync()).Where(l => l.Contains(" JOIN ", StringComparison.Ordinal) && !l.StartsWith(":dave!", StringComparison.Ordinal)), Is.Empty);
    }
}
