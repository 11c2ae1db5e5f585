using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using TinyChat.Chat;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Acceptance;

/// <summary>Presence and typing (issue 5) over real WebSockets.</summary>
[TestFixture]
public sealed class PresenceStoriesTests
{
    private TestServer server = null!;

    [SetUp]
    public async Task StartServer() => server = await TestServer.StartAsync(new Dictionary<string, string> { ["WebSocket:IdleTimeoutSeconds"] = "600" });

    [TearDown]
    public async Task StopServer() => await server.DisposeAsync();

    private static bool IsState(JsonElement f, string room) =>
        f.TryGetProperty("presence_state", out _) && f.GetProperty("room").GetString() == room;

    private static bool IsDiff(JsonElement f, string kind, string user) =>
        f.TryGetProperty("presence_diff", out var d) && d.GetProperty(kind).TryGetProperty(user, out _);

    private static string[] Users(JsonElement state) =>
        [.. state.GetProperty("presence_state").EnumerateObject().Select(p => p.Name)];

    private async Task<ChatSocket> JoinedAsync(string token, string room = "default")
    {
        var socket = await server.ConnectAsync(token);
        await socket.RequestAsync(new() { ["command"] = "join", ["room"] = room });
        return socket;
    }

    [Test]
    public async Task As_foo_user_joining_a_room_I_see_who_is_online_and_the_others_see_me_arrive()
    {
        await using var bar = await JoinedAsync("bar_token");
        await using var foo = await server.ConnectAsync("foo_token");
        await foo.SendAsync(new { command = "join" });

        var state = await foo.ExpectAsync(f => IsState(f, "default"));
        Assert.That(Users(state), Is.EquivalentTo(new[] { "bar_user", "foo_user" }));
        var entry = state.GetProperty("presence_state").GetProperty("bar_user");
        Assert.That(entry.GetProperty("connections").GetInt32(), Is.EqualTo(1));
        Assert.That(DateTimeOffset.Parse(entry.GetProperty("online_at").GetString()!), Is.EqualTo(DateTimeOffset.UtcNow).Within(TimeSpan.FromMinutes(1)));

        var diff = await bar.ExpectAsync(f => IsDiff(f, "joins", "foo_user"));
        Assert.That(diff.GetProperty("room").GetString(), Is.EqualTo("default"));
    }

    [Test]
    public async Task A_second_tab_opening_and_closing_does_not_flap_and_the_last_tab_closing_is_a_leave()
    {
        await using var foo = await JoinedAsync("foo_token");
        var bar1 = await JoinedAsync("bar_token");
        await foo.ExpectAsync(f => IsDiff(f, "joins", "bar_user"));

        var bar2 = await ChatSocket.ConnectAsync(server.WebSocketUri("/chat?access_token=bar_token"));
        var greeted = await bar2.ExpectAsync(f => IsState(f, "default"));
        Assert.That(greeted.GetProperty("presence_state").GetProperty("bar_user").GetProperty("connections").GetInt32(), Is.EqualTo(2));
        await bar2.DisposeAsync();

        // Wait until the server has detached the tab (bounded), then synchronise foo on a reply:
        // any diff caused by the tab would be queued before it.
        for (var attempt = 0; ; attempt++)
        {
            var own = await bar1.RequestAsync(new() { ["command"] = "who", ["room"] = "default" });
            if (own.GetProperty("presence_state").GetProperty("bar_user").GetProperty("connections").GetInt32() == 1)
            {
                break;
            }

            Assert.That(attempt, Is.LessThan(200), "the closed tab was never detached");
        }

        var who = await foo.RequestAsync(new() { ["command"] = "who", ["room"] = "default" });
        Assert.That(Users(who), Does.Contain("bar_user"));
        Assert.That(foo.TryPeekPending(out _), Is.False, "no presence_diff for a tab");

        await bar1.DisposeAsync();
        await foo.ExpectAsync(f => IsDiff(f, "leaves", "bar_user"));
        var after = await foo.RequestAsync(new() { ["command"] = "who", ["room"] = "default" });
        Assert.That(Users(after), Is.EqualTo(new[] { "foo_user" }));
    }

    [Test]
    public async Task Leaving_a_room_removes_me_from_its_presence()
    {
        await using var foo = await JoinedAsync("foo_token");
        await using var bar = await JoinedAsync("bar_token");

        // Seen arriving first: someone who comes and goes within one presence tick is never announced at all.
        await foo.ExpectAsync(f => IsDiff(f, "joins", "bar_user"));
        await bar.RequestAsync(new() { ["command"] = "leave", ["room"] = "default" });
        await foo.ExpectAsync(f => IsDiff(f, "leaves", "bar_user"));
        var who = await foo.RequestAsync(new() { ["command"] = "who", ["room"] = "default" });
        Assert.That(Users(who), Is.EqualTo(new[] { "foo_user" }));
    }

    [Test]
    public async Task On_reconnect_I_receive_the_presence_of_every_room_I_joined()
    {
        await using (var first = await JoinedAsync("foo_token"))
        {
            await first.RequestAsync(new() { ["command"] = "create", ["room"] = "second" });
            await first.RequestAsync(new() { ["command"] = "join", ["room"] = "second" });
        }

        await using var again = await ChatSocket.ConnectAsync(server.WebSocketUri("/chat?access_token=foo_token"));
        var rooms = new HashSet<string>();
        while (rooms.Count < 2)
        {
            var state = await again.ExpectAsync(f => f.TryGetProperty("presence_state", out _));
            rooms.Add(state.GetProperty("room").GetString()!);
        }

        Assert.That(rooms, Is.EquivalentTo(new[] { "default", "second" }));
    }

    [Test]
    public async Task Who_is_refused_to_non_members()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        var reply = await foo.RequestAsync(new() { ["command"] = "who", ["room"] = "default" });
        Assert.That(reply.GetProperty("code").GetString(), Is.EqualTo("not_a_member"));
    }

    [Test]
    public async Task Typing_reaches_the_others_once_per_second_and_is_not_echoed()
    {
        await using var foo = await JoinedAsync("foo_token");
        await using var bar = await JoinedAsync("bar_token");
        await foo.SendAsync(new { command = "typing", room = "default" });
        await foo.SendAsync(new { command = "typing", room = "default" });
        var typing = await bar.ExpectAsync(f => f.TryGetProperty("typing", out _));
        Assert.That((typing.GetProperty("room").GetString(), typing.GetProperty("typing").GetString()), Is.EqualTo(("default", "foo_user")));

        // foo's ping reply comes after the room handled both typing frames; bar's ping after any second notice.
        await foo.RequestAsync(new() { ["command"] = "who", ["room"] = "default" });
        await bar.RequestAsync(new() { ["command"] = "who", ["room"] = "default" });
        Assert.That(bar.TryPeekPending(out _), Is.False, "the second notice within a second was dropped");

        await foo.SendAsync(new { command = "typing", to = "bar_user" });
        var privateTyping = await bar.ExpectAsync(f => f.TryGetProperty("typing", out _));
        Assert.That((privateTyping.GetProperty("to").GetString(), privateTyping.GetProperty("typing").GetString()), Is.EqualTo(("bar_user", "foo_user")));
    }

    [Test]
    public async Task An_idle_timeout_counts_as_leaving()
    {
        // The server's clock moves only when the test says so: no waiting for real seconds, no race with a busy machine.
        var clock = new ManualClock();
        await using var quick = await TestServer.StartAsync(
            new Dictionary<string, string> { ["WebSocket:IdleTimeoutSeconds"] = "2" },
            services => services.AddSingleton<TimeProvider>(clock));
        await using var foo = await quick.ConnectAsync("foo_token");
        await foo.RequestAsync(new() { ["command"] = "join" });
        await using var bar = await quick.ConnectAsync("bar_token");
        await bar.RequestAsync(new() { ["command"] = "join" });

        // bar's arrival follows foo's within the presence tick (Presence:TickMilliseconds): announced when it ends.
        clock.Advance(TimeSpan.FromMilliseconds(200));
        await foo.ExpectAsync(f => IsDiff(f, "joins", "bar_user"));

        // foo talks after 1.5 s; bar stays silent; at 2.5 s only bar has been idle for more than 2 s.
        clock.Advance(TimeSpan.FromSeconds(1.5));
        await foo.RequestAsync(new() { ["command"] = "ping" });
        clock.Advance(TimeSpan.FromSeconds(1));

        await foo.ExpectAsync(f => IsDiff(f, "leaves", "bar_user"));
        await bar.WaitClosedAsync();
        Assert.That(bar.CloseDescription, Does.StartWith("idle timeout"));
        Assert.That(foo.Socket.State, Is.EqualTo(System.Net.WebSockets.WebSocketState.Open), "foo talked in time");
    }

    [Test]
    public async Task After_the_presence_loop_crashes_presence_is_rebuilt_from_the_connected_sessions()
    {
        await using var foo = await JoinedAsync("foo_token");
        var bar = await JoinedAsync("bar_token");
        await foo.ExpectAsync(f => IsDiff(f, "joins", "bar_user"));

        var room = server.Services.GetRequiredService<ChatServer>().Rooms.TryFindLive("default")!;
        await bar.DisposeAsync();
        room.Kill();

        // Whatever the crash swallowed, foo ends up with the truth: only foo is online, no ghost of bar.
        var truth = await foo.ExpectAsync(f => (IsState(f, "default") && !Users(f).Contains("bar_user")) || IsDiff(f, "leaves", "bar_user"));
        var who = await foo.RequestAsync(new() { ["command"] = "who", ["room"] = "default" });
        Assert.That(Users(who), Is.EqualTo(new[] { "foo_user" }));
        Assert.That(truth.ValueKind, Is.EqualTo(JsonValueKind.Object));
    }
}
