using TinyChat.Chat;

namespace TinyChat.Tests.Chat;

/// <summary>
/// Mentions, read positions and search, decided once in the core: a mention reaches only a user who may read the
/// room; a read position never goes back and every connection of the reader hears it; a search finds only what
/// the searcher may read. In-process delivery is synchronous, so what was not delivered when a call returns never is.
/// </summary>
public sealed class ReadingRulesTests
{
    private static readonly CancellationToken None = CancellationToken.None;
    private ChatCore core = null!;

    [SetUp]
    public async Task Start() => core = await ChatCore.StartAsync(limits: null, "owner", "member", "outsider");

    [TearDown]
    public async Task Stop() => await core.DisposeAsync();

    [Test]
    public async Task A_mention_reaches_every_connection_of_a_member_and_nobody_who_may_not_read_the_room()
    {
        var (owner, ownerBox) = await core.ConnectAsync("owner");
        var (member, memberTab1) = await core.ConnectAsync("member");
        var (_, memberTab2) = await core.ConnectAsync("member");
        var (_, outsiderBox) = await core.ConnectAsync("outsider");
        Assert.That(await owner.CreateAsync("secret", true, None), Is.Null);
        Assert.That((await owner.JoinAsync("secret", None)).Error, Is.Null);
        Assert.That((await owner.InviteAsync("secret", "member", None)).Error, Is.Null);
        Assert.That((await member.JoinAsync("secret", None)).Error, Is.Null);
        outsiderBox.Drain();
        ownerBox.Drain();

        var id = (await owner.SendToRoomAsync("secret", "@member @outsider @owner @nobody look at this", None)).Value;

        foreach (var tab in new[] { memberTab1, memberTab2 })
        {
            var mention = await tab.NextAsync<MentionNotice>();
            Assert.That((mention.User, mention.Room, mention.From, mention.Id), Is.EqualTo(("member", "secret", "owner", id)));
            Assert.That(mention.Excerpt, Does.StartWith("@member"));
        }

        Assert.That(outsiderBox.Drain().OfType<MentionNotice>(), Is.Empty, "the outsider may not read the private room: not notified, nothing of the text leaks");
        Assert.That(ownerBox.Drain().OfType<MentionNotice>(), Is.Empty, "nobody is notified of their own words");
        var state = (await member.ReadStatesAsync(["secret"], None)).Single();
        Assert.That((state.Unread, state.Mentions), Is.EqualTo((1, 1)), "the mention is stored and counted");
        Assert.That((await core.Store.RoomReadStatesAsync("outsider", ["secret"], None)).Single().Mentions, Is.Zero);
    }

    [Test]
    public async Task A_read_position_never_goes_back_and_every_connection_of_the_reader_hears_where_it_is()
    {
        var (owner, _) = await core.ConnectAsync("owner");
        var (member, tab1) = await core.ConnectAsync("member");
        var (_, tab2) = await core.ConnectAsync("member");
        Assert.That((await member.JoinAsync("default", None)).Error, Is.Null);
        Assert.That((await owner.JoinAsync("default", None)).Error, Is.Null);
        var first = (await owner.SendToRoomAsync("default", "one @member", None)).Value;
        var second = (await owner.SendToRoomAsync("default", "two", None)).Value;

        var read = await member.MarkRoomReadAsync("default", second, None);
        Assert.That((read.Value!.Position, read.Value.Unread, read.Value.Mentions), Is.EqualTo((second, 0, 0)));
        foreach (var tab in new[] { tab1, tab2 })
        {
            var marker = await tab.NextAsync<ReadMarker>();
            Assert.That((marker.Room, marker.Position, marker.Unread), Is.EqualTo(("default", second, 0)));
        }

        var back = await member.MarkRoomReadAsync("default", first, None);
        Assert.That(back.Value!.Position, Is.EqualTo(second), "an older id changes nothing");
        Assert.That((await member.MarkRoomReadAsync("default", second + 5, None)).Error?.Code, Is.EqualTo("message_not_found"));
        Assert.That((await member.MarkRoomReadAsync("nowhere", 1, None)).Error?.Code, Is.EqualTo("room_not_found"));
        var (outsider, _) = await core.ConnectAsync("outsider");
        Assert.That((await outsider.MarkRoomReadAsync("default", 1, None)).Error?.Code, Is.EqualTo("not_a_member"));
        Assert.That((await member.MarkPrivateReadAsync("ghost", 1, None)).Error?.Code, Is.EqualTo("user_not_found"));
    }

    [Test]
    public async Task A_search_never_returns_a_message_of_a_room_the_searcher_is_not_a_member_of_nor_someone_elses_conversation()
    {
        var (owner, _) = await core.ConnectAsync("owner");
        var (member, _) = await core.ConnectAsync("member");
        var (outsider, _) = await core.ConnectAsync("outsider");
        Assert.That(await owner.CreateAsync("secret", true, None), Is.Null);
        Assert.That((await owner.JoinAsync("secret", None)).Error, Is.Null);
        Assert.That(await owner.CreateAsync("plaza", false, None), Is.Null);
        Assert.That((await owner.JoinAsync("plaza", None)).Error, Is.Null);
        Assert.That((await owner.SendToRoomAsync("secret", "launch codes are 1234", None)).Error, Is.Null);
        Assert.That((await owner.SendToRoomAsync("plaza", "launch party at noon", None)).Error, Is.Null);
        Assert.That((await owner.SendPrivateAsync("member", "launch between us", None)).Error, Is.Null);

        var mine = await owner.SearchAsync("launch", null, null, 10, None);
        Assert.That(mine.Value!.Hits.Count, Is.EqualTo(3));
        Assert.That(mine.Value.Hits[0].Private!.Text, Is.EqualTo("launch between us"), "newest first across rooms and conversations");
        Assert.That(mine.Value.Hits[0].Marks, Is.EqualTo(new[] { (0, 6) }));

        var theirs = await outsider.SearchAsync("launch", null, null, 10, None);
        Assert.That(theirs.Value!.Hits, Is.Empty, "not a member of the private room, nor of the public one; not in the conversation");
        Assert.That((await outsider.SearchAsync("launch", "secret", null, 10, None)).Error?.Code, Is.EqualTo("room_not_found"), "a private room does not exist for an outsider");
        Assert.That((await outsider.SearchAsync("launch", "plaza", null, 10, None)).Error?.Code, Is.EqualTo("not_a_member"));

        var theirConversation = await member.SearchAsync("launch", null, null, 10, None);
        Assert.That(theirConversation.Value!.Hits.Select(h => h.Private?.Text), Is.EqualTo(new[] { "launch between us" }));
        Assert.That((await owner.SearchAsync("launch", "plaza", null, 10, None)).Value!.Hits.Single().Room!.Room, Is.EqualTo("plaza"));
    }

    [Test]
    public async Task Search_pages_with_an_opaque_cursor_until_there_is_no_next()
    {
        var (owner, _) = await core.ConnectAsync("owner");
        Assert.That((await owner.JoinAsync("default", None)).Error, Is.Null);
        for (var i = 0; i < 5; i++)
        {
            Assert.That((await owner.SendToRoomAsync("default", $"note {i}", None)).Error, Is.Null);
            Assert.That((await owner.SendPrivateAsync("member", $"note private {i}", None)).Error, Is.Null);
        }

        var seen = new List<string>();
        string? next = null;
        for (var page = 0; page < 10; page++)
        {
            var found = await owner.SearchAsync("note", null, next, 3, None);
            seen.AddRange(found.Value!.Hits.Select(h => h.Room?.Text ?? h.Private!.Text));
            next = found.Value.Next;
            if (next is null)
            {
                break;
            }
        }

        Assert.That(next, Is.Null);
        Assert.That(seen, Has.Count.EqualTo(10).And.Unique);
        Assert.That((await owner.SearchAsync("note", null, "not-a-cursor", 3, None)).Error?.Code, Is.EqualTo("bad_request"));
    }

    [TestCase("")]
    [TestCase("   ")]
    [TestCase("\"unclosed phrase")]
    [TestCase("*star")]
    [TestCase("mid*dle")]
    [TestCase("!!! ???")]
    [TestCase("\"in*side\"")]
    public async Task A_query_that_does_not_parse_is_refused_with_bad_query(string query)
    {
        var (owner, _) = await core.ConnectAsync("owner");
        var refused = await owner.SearchAsync(query, null, null, 10, None);
        Assert.That(refused.Error?.Code, Is.EqualTo("bad_query"), refused.Error?.Message);
    }

    [Test]
    public void Mentions_are_names_after_an_at_sign_not_inside_addresses()
    {
        Assert.That(Mentions.In("hi @foo_user, and @bar-user. mail me at x@example.com or @@ or @"), Is.EqualTo(new[] { "foo_user", "bar-user" }));
        Assert.That(Mentions.In("@a @a @b"), Is.EqualTo(new[] { "a", "b" }));
        Assert.That(Mentions.In("@" + new string('x', 33)), Is.Empty, "longer than a user name");
        Assert.That(Mentions.In(string.Join(" ", Enumerable.Range(0, 30).Select(i => $"@u{i}"))), Has.Count.EqualTo(Mentions.MaxPerMessage));
    }
}
