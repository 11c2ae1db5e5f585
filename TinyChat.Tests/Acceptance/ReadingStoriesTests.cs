using System.Text.Json;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Acceptance;

/// <summary>Issue 15's reading stories over real WebSockets against the real host (SQLite): mentions, unread state across devices, search.</summary>
[TestFixture]
public sealed class ReadingStoriesTests
{
    private TestServer server = null!;

    [SetUp]
    public async Task StartServer() => server = await TestServer.StartAsync();

    [TearDown]
    public async Task StopServer() => await server.DisposeAsync();

    private static string Code(JsonElement reply) => reply.TryGetProperty("code", out var code) ? code.GetString()! : "(no error: " + reply + ")";

    private static async Task<JsonElement> DefaultRoomDetailsAsync(ChatSocket socket)
    {
        var rooms = await socket.RequestAsync(Frame(("command", "rooms")));
        return rooms.GetProperty("details").EnumerateArray().Single(d => d.GetProperty("room").GetString() == "default");
    }

    private static async Task<long> PostAsync(ChatSocket socket, string room, string text) =>
        (await socket.RequestAsync(Frame(("room", room), ("message", text)))).GetProperty("id").GetInt64();

    [Test]
    public async Task Reading_on_one_tab_clears_the_unread_count_on_the_other()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await using var phone = await server.ConnectAsync("bar_token");
        await using var laptop = await server.ConnectAsync("bar_token");
        foreach (var socket in new[] { foo, phone })
        {
            var joined = await socket.RequestAsync(Frame(("command", "join"), ("room", "default")));
            Assert.That(joined.TryGetProperty("error", out _) ? Code(joined) : "already_joined", Is.EqualTo("already_joined"));
        }

        await PostAsync(foo, "default", "morning @bar_user, see the plan");
        var last = await PostAsync(foo, "default", "and the budget");

        var mention = (await laptop.ExpectAsync(f => f.TryGetProperty("mention", out _))).GetProperty("mention");
        Assert.That((mention.GetProperty("room").GetString(), mention.GetProperty("from").GetString(), mention.GetProperty("message").GetString()), Is.EqualTo(("default", "foo_user", "morning @bar_user, see the plan")));
        var before = await DefaultRoomDetailsAsync(laptop);
        Assert.That((before.GetProperty("unread").GetInt32(), before.GetProperty("mentions").GetInt32()), Is.EqualTo((2, 1)));

        var read = await phone.RequestAsync(Frame(("command", "read"), ("room", "default"), ("id", last)));
        Assert.That(read.GetProperty("read").GetProperty("id").GetInt64(), Is.EqualTo(last), read.ToString());

        var cleared = (await laptop.ExpectAsync(f => f.TryGetProperty("read", out _))).GetProperty("read");
        Assert.That((cleared.GetProperty("room").GetString(), cleared.GetProperty("id").GetInt64(), cleared.GetProperty("unread").GetInt32(), cleared.GetProperty("mentions").GetInt32()), Is.EqualTo(("default", last, 0, 0)));
        var after = await DefaultRoomDetailsAsync(laptop);
        Assert.That((after.GetProperty("last_read").GetInt64(), after.GetProperty("unread").GetInt32(), after.GetProperty("mentions").GetInt32()), Is.EqualTo((last, 0, 0)));

        var back = await laptop.RequestAsync(Frame(("command", "read"), ("room", "default"), ("id", 1)));
        Assert.That(back.GetProperty("read").GetProperty("id").GetInt64(), Is.EqualTo(last), "an older position changes nothing");
        Assert.That(Code(await laptop.RequestAsync(Frame(("command", "read"), ("room", "default")))), Is.EqualTo("bad_request"));
        Assert.That(Code(await laptop.RequestAsync(Frame(("command", "read"), ("id", 1)))), Is.EqualTo("bad_request"));
    }

    [Test]
    public async Task My_private_conversations_are_listed_newest_first_and_reading_one_clears_it_everywhere()
    {
        var bazToken = await server.RegisterAsync("baz_user");
        await using var foo = await server.ConnectAsync("foo_token");
        await using var baz = await server.ConnectAsync(bazToken);
        await using var bar = await server.ConnectAsync("bar_token");
        await using var barOther = await server.ConnectAsync("bar_token");
        await foo.RequestAsync(Frame(("to", "bar_user"), ("message", "psst")));
        var newest = (await baz.RequestAsync(Frame(("to", "bar_user"), ("message", "hello from baz")))).GetProperty("id").GetInt64();

        var list = (await bar.RequestAsync(Frame(("command", "conversations")))).GetProperty("conversations").EnumerateArray().ToList();
        Assert.That(list.Select(c => (c.GetProperty("with").GetString(), c.GetProperty("unread").GetInt32())), Is.EqualTo(new[] { ("baz_user", 1), ("foo_user", 1) }));
        Assert.That(list[0].GetProperty("last_id").GetInt64(), Is.EqualTo(newest));

        await bar.RequestAsync(Frame(("command", "read"), ("with", "baz_user"), ("id", newest)));
        var cleared = (await barOther.ExpectAsync(f => f.TryGetProperty("read", out _))).GetProperty("read");
        Assert.That((cleared.GetProperty("with").GetString(), cleared.GetProperty("unread").GetInt32()), Is.EqualTo(("baz_user", 0)));
        var again = (await barOther.RequestAsync(Frame(("command", "conversations")))).GetProperty("conversations").EnumerateArray();
        Assert.That(again.Select(c => c.GetProperty("unread").GetInt32()), Is.EqualTo(new[] { 0, 1 }));
        Assert.That(Code(await bar.RequestAsync(Frame(("command", "read"), ("with", "nobody_here"), ("id", 1)))), Is.EqualTo("user_not_found"));
    }

    [Test]
    public async Task Searching_finds_only_what_I_may_read()
    {
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await foo.RequestAsync(Frame(("command", "create"), ("room", "plans"), ("private", true)));
        await foo.RequestAsync(Frame(("command", "join"), ("room", "plans")));
        await foo.RequestAsync(Frame(("command", "join"), ("room", "default")));
        await bar.RequestAsync(Frame(("command", "join"), ("room", "default")));
        var secret = await PostAsync(foo, "plans", "Rocket launch on Friday");
        var open = await PostAsync(foo, "default", "the launch party is public");

        var mine = await foo.RequestAsync(Frame(("command", "search"), ("query", "launch"), ("limit", 1)));
        var first = mine.GetProperty("results")[0];
        Assert.That((first.GetProperty("message").GetProperty("room").GetString(), first.GetProperty("message").GetProperty("id").GetInt64()), Is.EqualTo(("default", open)));
        Assert.That(first.GetProperty("marks").EnumerateArray().Select(m => (m[0].GetInt32(), m[1].GetInt32())), Is.EqualTo(new[] { (4, 6) }));
        var next = mine.GetProperty("next").GetString();
        var page2 = await foo.RequestAsync(Frame(("command", "search"), ("query", "launch"), ("limit", 1), ("next", next)));
        Assert.That(page2.GetProperty("results")[0].GetProperty("message").GetProperty("id").GetInt64(), Is.EqualTo(secret));

        var theirs = await bar.RequestAsync(Frame(("command", "search"), ("query", "launch")));
        Assert.That(theirs.GetProperty("results").EnumerateArray().Select(r => r.GetProperty("message").GetProperty("room").GetString()), Is.EqualTo(new[] { "default" }), "bar_user is not in plans");
        Assert.That(theirs.GetProperty("next").ValueKind, Is.EqualTo(JsonValueKind.Null));
        Assert.That(Code(await bar.RequestAsync(Frame(("command", "search"), ("query", "launch"), ("room", "plans")))), Is.EqualTo("room_not_found"));
        Assert.That(Code(await bar.RequestAsync(Frame(("command", "search"), ("query", "\"launch")))), Is.EqualTo("bad_query"));
        Assert.That(Code(await bar.RequestAsync(Frame(("command", "search")))), Is.EqualTo("bad_query"));
        Assert.That(Code(await bar.RequestAsync(Frame(("command", "search"), ("query", "launch"), ("next", "garbage")))), Is.EqualTo("bad_request"));

        await foo.RequestAsync(Frame(("command", "edit"), ("room", "default"), ("id", open), ("message", "the party moved")));
        Assert.That((await bar.RequestAsync(Frame(("command", "search"), ("query", "launch")))).GetProperty("results").GetArrayLength(), Is.Zero, "the edited text is what is found");
        Assert.That((await bar.RequestAsync(Frame(("command", "search"), ("query", "moved")))).GetProperty("results").GetArrayLength(), Is.EqualTo(1));
    }
}
