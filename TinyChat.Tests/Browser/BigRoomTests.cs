using static Microsoft.Playwright.Assertions;

namespace TinyChat.Tests.Browser;

/// <summary>
/// A room with more online than <c>Presence:FullStateMaxMembers</c> (2 here) in the web client: the count, and the
/// names paged in on request; back under the limit, the live list again.
/// </summary>
[TestFixture]
public sealed class BigRoomTests : BrowserTest
{
    protected override IDictionary<string, string>? ServerSettings => new Dictionary<string, string>
    {
        ["Presence:FullStateMaxMembers"] = "2",
        ["Presence:TickMilliseconds"] = "50",
    };

    [Test]
    public async Task A_big_room_shows_how_many_are_online_and_pages_through_who_on_request()
    {
        var foo = await OpenChatAsync("foo_token", "foo");
        await Expect(foo.OnlineUser("foo_user")).ToBeVisibleAsync();
        await using var bar = await Server.ConnectAsync("bar_token");
        await bar.RequestAsync(new() { ["command"] = "join" });
        await Expect(foo.OnlineUsers).ToHaveCountAsync(2);

        await using var carol = await Server.ConnectAsync(await Server.RegisterAsync("carol"));
        await carol.RequestAsync(new() { ["command"] = "join" });
        var title = foo.Page.Locator("#online-title");
        await Expect(title).ToHaveTextAsync("Online — 3");
        await Expect(foo.Page.Locator("#online-big-note")).ToContainTextAsync("3 online");
        await Expect(foo.OnlineUsers).ToHaveCountAsync(0);

        var more = foo.Page.Locator("#online-more");
        await Expect(more).ToHaveTextAsync("Show who is here");
        await more.ClickAsync();
        await Expect(foo.OnlineUsers).ToHaveCountAsync(3);
        await Expect(foo.OnlineUser("carol")).ToBeVisibleAsync();
        await Expect(more).ToBeHiddenAsync();

        // Back to two online: the live list returns.
        await carol.RequestAsync(new() { ["command"] = "leave", ["room"] = "default" });
        await Expect(title).ToHaveTextAsync("Online — 2");
        await Expect(foo.OnlineUser("bar_user")).ToBeVisibleAsync();
        await Expect(foo.Page.Locator("#online-big")).ToBeHiddenAsync();
    }
}
