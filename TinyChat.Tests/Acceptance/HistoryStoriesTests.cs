using System.Text.Json;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Acceptance;

/// <summary>User stories of issue 4 (durable chat) over real WebSockets, against the real host on SQLite.</summary>
[TestFixture]
public sealed class HistoryStoriesTests
{
    private TestServer server = null!;

    [SetUp]
    public async Task StartServer() => server = await TestServer.StartAsync();

    [TearDown]
    public async Task StopServer() => await server.DisposeAsync();

    private static long[] Ids(JsonElement reply) => [.. reply.GetProperty("history").EnumerateArray().Select(m => m.GetProperty("id").GetInt64())];

    private static string[] Texts(JsonElement reply) => [.. reply.GetProperty("history").EnumerateArray().Select(m => m.GetProperty("message").GetString()!)];

    private static async Task<long> PostAsync(ChatSocket socket, string room, string text)
    {
        var ack = await socket.RequestAsync(Frame(("room", room), ("message", text)));
        Assert.That(ack.GetProperty("ok").GetBoolean(), Is.True, ack.ToString());
        return ack.GetProperty("id").GetInt64();
    }

    [Test]
    public async Task As_a_member_I_page_room_history_both_ways_and_a_non_member_is_refused()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await foo.RequestAsync(Frame(("command", "create"), ("room", "lobby")));
        await foo.RequestAsync(Frame(("command", "join"), ("room", "lobby")));
        for (var i = 1; i <= 5; i++)
        {
            Assert.That(await PostAsync(foo, "lobby", $"m{i}"), Is.EqualTo(i));
        }

        var newest = await foo.RequestAsync(Frame(("command", "history"), ("room", "lobby"), ("limit", 2)));
        Assert.That(newest.GetProperty("room").GetString(), Is.EqualTo("lobby"));
        Assert.That(Ids(newest), Is.EqualTo(new long[] { 4, 5 }));
        Assert.That(Texts(newest), Is.EqualTo(new[] { "m4", "m5" }));

        var older = await foo.RequestAsync(Frame(("command", "history"), ("room", "lobby"), ("before", 4), ("limit", 2)));
        Assert.That(Ids(older), Is.EqualTo(new long[] { 2, 3 }));
        var newer = await foo.RequestAsync(Frame(("command", "history"), ("room", "lobby"), ("after", 1), ("limit", 2)));
        Assert.That(Ids(newer), Is.EqualTo(new long[] { 2, 3 }));
        var none = await foo.RequestAsync(Frame(("command", "history"), ("room", "lobby"), ("after", 5)));
        Assert.That(Ids(none), Is.Empty);

        // A history entry is exactly the live message: same fields, same values, same timestamp text.
        await foo.SendAsync(new { room = "lobby", message = "live" });
        var live = await foo.ExpectAsync(f => f.TryGetProperty("from", out _) && f.GetProperty("message").GetString() == "live");
        var stored = await foo.RequestAsync(Frame(("command", "history"), ("room", "lobby"), ("limit", 1)));
        Assert.That(stored.GetProperty("history")[0].GetRawText(), Is.EqualTo(live.GetRawText()));

        var refused = await bar.RequestAsync(Frame(("command", "history"), ("room", "lobby")));
        Assert.That(refused.GetProperty("code").GetString(), Is.EqualTo("not_a_member"));
        var missing = await bar.RequestAsync(Frame(("command", "history"), ("room", "nowhere")));
        Assert.That(missing.GetProperty("code").GetString(), Is.EqualTo("room_not_found"));
    }

    [Test]
    public async Task Private_history_is_readable_only_between_its_two_participants()
    {
        var aliceToken = await server.RegisterAsync("alice");
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await using var alice = await server.ConnectAsync(aliceToken);
        await foo.RequestAsync(Frame(("to", "bar_user"), ("message", "one")));
        await bar.RequestAsync(Frame(("to", "foo_user"), ("message", "two")));
        await foo.RequestAsync(Frame(("to", "alice"), ("message", "three")));

        var barWithFoo = await bar.RequestAsync(Frame(("command", "history"), ("with", "foo_user")));
        Assert.That(barWithFoo.GetProperty("with").GetString(), Is.EqualTo("foo_user"));
        Assert.That(Texts(barWithFoo), Is.EqualTo(new[] { "one", "two" }));
        var fooWithBar = await foo.RequestAsync(Frame(("command", "history"), ("with", "bar_user")));
        Assert.That(Texts(fooWithBar), Is.EqualTo(new[] { "one", "two" }));
        var first = fooWithBar.GetProperty("history")[0];
        Assert.That((first.GetProperty("from").GetString(), first.GetProperty("to").GetString()), Is.EqualTo(("foo_user", "bar_user")));

        var aliceWithBar = await alice.RequestAsync(Frame(("command", "history"), ("with", "bar_user")));
        Assert.That(Ids(aliceWithBar), Is.Empty);
        var aliceWithFoo = await alice.RequestAsync(Frame(("command", "history"), ("with", "foo_user")));
        Assert.That(Texts(aliceWithFoo), Is.EqualTo(new[] { "three" }));
        var unknown = await alice.RequestAsync(Frame(("command", "history"), ("with", "nobody_here")));
        Assert.That(unknown.GetProperty("code").GetString(), Is.EqualTo("user_not_found"));
    }

    [Test]
    public async Task A_private_message_to_an_offline_user_is_stored_acknowledged_and_found_in_history_later()
    {
        var aliceToken = await server.RegisterAsync("alice");
        long id;
        await using (var foo = await server.ConnectAsync("foo_token"))
        {
            var ack = await foo.RequestAsync(Frame(("to", "alice"), ("message", "while you were out")));
            Assert.That(ack.GetProperty("ok").GetBoolean(), Is.True, ack.ToString());
            Assert.That(ack.GetProperty("to").GetString(), Is.EqualTo("alice"));
            id = ack.GetProperty("id").GetInt64();
        }

        await using var alice = await server.ConnectAsync(aliceToken);
        var history = await alice.RequestAsync(Frame(("command", "history"), ("with", "foo_user")));
        var message = history.GetProperty("history").EnumerateArray().Single();
        Assert.That(message.GetProperty("id").GetInt64(), Is.EqualTo(id));
        Assert.That(message.GetProperty("from").GetString(), Is.EqualTo("foo_user"));
        Assert.That(message.GetProperty("to").GetString(), Is.EqualTo("alice"));
        Assert.That(message.GetProperty("message").GetString(), Is.EqualTo("while you were out"));
    }

    [Test]
    public async Task After_a_reconnect_history_after_my_last_id_recovers_every_missed_message_exactly_once()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await foo.RequestAsync(Frame(("command", "join")));
        long lastSeen;
        await using (var bar = await server.ConnectAsync("bar_token"))
        {
            await bar.RequestAsync(Frame(("command", "join")));
            await PostAsync(foo, "default", "before 1");
            await PostAsync(foo, "default", "before 2");
            var seen = await bar.ExpectAsync(f => f.TryGetProperty("from", out _) && f.GetProperty("message").GetString() == "before 2");
            lastSeen = seen.GetProperty("id").GetInt64();
        }

        var missed = new List<long>();
        for (var i = 1; i <= 9; i++)
        {
            missed.Add(await PostAsync(foo, "default", $"missed {i}"));
        }

        await using var back = await server.ConnectAsync("bar_token");
        var rooms = await back.RequestAsync(Frame(("command", "rooms")));
        Assert.That(rooms.GetProperty("joined").EnumerateArray().Select(e => e.GetString()), Is.EqualTo(new[] { "default" }));

        // Catch up in pages smaller than the gap, each page after the last id received.
        var recovered = new List<JsonElement>();
        var after = lastSeen;
        for (var page = 0; page < 10; page++)
        {
            var reply = await back.RequestAsync(Frame(("command", "history"), ("room", "default"), ("after", after), ("limit", 4)));
            var messages = reply.GetProperty("history").EnumerateArray().ToList();
            if (messages.Count == 0)
            {
                break;
            }

            recovered.AddRange(messages);
            after = messages[^1].GetProperty("id").GetInt64();
        }

        Assert.That(recovered.Select(m => m.GetProperty("id").GetInt64()), Is.EqualTo(missed));
        Assert.That(recovered.Select(m => m.GetProperty("message").GetString()), Is.EqualTo(Enumerable.Range(1, 9).Select(i => $"missed {i}")));
    }
}
