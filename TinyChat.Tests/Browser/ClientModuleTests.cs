using System.Text.Json;

namespace TinyChat.Tests.Browser;

/// <summary>The client's state rules (dedupe, ordering, presence merging) run directly in the browser (no connection needed).</summary>
[TestFixture]
public sealed class ClientModuleTests : BrowserTest
{
    [Test]
    public async Task A_conversation_keeps_messages_ordered_by_id_and_never_holds_one_twice()
    {
        var chat = await OpenChatAsync(token: null, "modules");
        var result = await chat.Page.EvaluateAsync<JsonElement>("""
            async () => {
              const { Conversation } = await import('/state.js');
              const c = new Conversation('room', 'r');
              const m = (id) => ({ room: 'r', from: 'a', message: 'm' + id, id, ts: '2026-01-01T00:00:00.000Z' });
              const live = c.add([m(3), m(4)]).map((x) => x.id);
              const overlap = c.add([m(4), m(5)]).map((x) => x.id);
              const older = c.add([m(1), m(2), m(3)]).map((x) => x.id);
              const again = c.add([m(5), m(1)]).map((x) => x.id);
              return { live, overlap, older, again, all: c.messages.map((x) => x.id), last: c.lastId, oldest: c.oldestId };
            }
            """);
        Assert.Multiple(() =>
        {
            Assert.That(Ids(result, "live"), Is.EqualTo(new[] { 3, 4 }));
            Assert.That(Ids(result, "overlap"), Is.EqualTo(new[] { 5 }));
            Assert.That(Ids(result, "older"), Is.EqualTo(new[] { 1, 2 }));
            Assert.That(Ids(result, "again"), Is.Empty);
            Assert.That(Ids(result, "all"), Is.EqualTo(new[] { 1, 2, 3, 4, 5 }));
            Assert.That(result.GetProperty("last").GetInt32(), Is.EqualTo(5));
            Assert.That(result.GetProperty("oldest").GetInt32(), Is.EqualTo(1));
        });
    }

    [Test]
    public async Task A_presence_count_replaces_the_list_pages_add_names_and_a_state_lists_again()
    {
        var chat = await OpenChatAsync(token: null, "modules");
        var result = await chat.Page.EvaluateAsync<JsonElement>("""
            async () => {
              const { ChatState } = await import('/state.js');
              const s = new ChatState();
              const meta = { online_at: '2026-01-01T00:00:00Z', connections: 1 };
              s.setPresence('r', { a: meta, b: meta });
              s.setPresenceCount('r', 5);
              const counted = { count: s.countIn('r'), listed: s.onlineIn('r') };
              s.addPresencePage('r', { presence_state: { a: meta, b: meta }, online: 5, next: 'b' });
              s.addPresencePage('r', { presence_state: { b: meta, c: meta }, online: 6, next: null });
              const paged = { users: s.pagesOf('r').users, next: s.pagesOf('r').next, count: s.countIn('r') };
              s.setPresence('r', { a: meta });
              return { counted, paged, listedAgain: s.onlineIn('r'), countAfter: s.countIn('r') ?? null, pagesAfter: s.pagesOf('r') ?? null };
            }
            """);
        Assert.Multiple(() =>
        {
            Assert.That(result.GetProperty("counted").GetProperty("count").GetInt32(), Is.EqualTo(5));
            Assert.That(result.GetProperty("counted").GetProperty("listed").GetArrayLength(), Is.Zero, "a count drops the list");
            Assert.That(result.GetProperty("paged").GetProperty("users").EnumerateArray().Select(u => u.GetString()), Is.EqualTo(new[] { "a", "b", "c" }));
            Assert.That(result.GetProperty("paged").GetProperty("next").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(result.GetProperty("paged").GetProperty("count").GetInt32(), Is.EqualTo(6));
            Assert.That(result.GetProperty("listedAgain").EnumerateArray().Select(u => u.GetString()), Is.EqualTo(new[] { "a" }));
            Assert.That(result.GetProperty("countAfter").ValueKind, Is.EqualTo(JsonValueKind.Null));
            Assert.That(result.GetProperty("pagesAfter").ValueKind, Is.EqualTo(JsonValueKind.Null));
        });
    }

    [Test]
    public async Task Presence_state_is_replaced_and_diffs_apply_leaves_then_joins()
    {
        var chat = await OpenChatAsync(token: null, "modules");
        var result = await chat.Page.EvaluateAsync<JsonElement>("""
            async () => {
              const { ChatState } = await import('/state.js');
              const s = new ChatState();
              const meta = (n) => ({ online_at: '2026-01-01T00:00:00Z', connections: n });
              s.setPresence('r', { foo_user: meta(1), bar_user: meta(2) });
              const start = s.onlineIn('r');
              s.applyPresenceDiff('r', { joins: { bar_user: meta(1) }, leaves: { bar_user: meta(2) } });
              const sessionReplaced = s.onlineIn('r');
              s.applyPresenceDiff('r', { joins: {}, leaves: { bar_user: meta(1) } });
              const barGone = s.onlineIn('r');
              s.applyPresenceDiff('r', { joins: { baz: meta(1) } });
              const bazCame = s.onlineIn('r');
              s.applyPresenceDiff('left', { joins: { baz: meta(1) } });
              const ghost = s.presence.has('left');
              s.setPresence('r', { qux: meta(1) });
              return { start, sessionReplaced, barGone, bazCame, ghost, replaced: s.onlineIn('r'), quxOnline: s.isOnline('qux'), fooOnline: s.isOnline('foo_user') };
            }
            """);
        Assert.Multiple(() =>
        {
            Assert.That(Names(result, "start"), Is.EqualTo(new[] { "bar_user", "foo_user" }));
            Assert.That(Names(result, "sessionReplaced"), Is.EqualTo(new[] { "bar_user", "foo_user" }));
            Assert.That(Names(result, "barGone"), Is.EqualTo(new[] { "foo_user" }));
            Assert.That(Names(result, "bazCame"), Is.EqualTo(new[] { "baz", "foo_user" }));
            Assert.That(result.GetProperty("ghost").GetBoolean(), Is.False, "a diff for a room without state is ignored");
            Assert.That(Names(result, "replaced"), Is.EqualTo(new[] { "qux" }));
            Assert.That(result.GetProperty("quxOnline").GetBoolean(), Is.True);
            Assert.That(result.GetProperty("fooOnline").GetBoolean(), Is.False);
        });
    }

    private static int[] Ids(JsonElement result, string name) => [.. result.GetProperty(name).EnumerateArray().Select(e => e.GetInt32())];

    private static string[] Names(JsonElement result, string name) => [.. result.GetProperty(name).EnumerateArray().Select(e => e.GetString()!)];
}
