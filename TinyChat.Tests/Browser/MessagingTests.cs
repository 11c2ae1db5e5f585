using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace TinyChat.Tests.Browser;

/// <summary>Issue 5 in a real browser against the real server: two people chatting in a room and privately.</summary>
[TestFixture]
public sealed class MessagingTests : BrowserTest
{
    [Test]
    public async Task Foo_and_bar_exchange_room_and_private_messages_both_ways()
    {
        var foo = await OpenChatAsync("foo_token", "foo");
        var bar = await OpenChatAsync("bar_token", "bar");
        await Expect(foo.Me).ToHaveTextAsync("foo_user");
        await Expect(foo.Title).ToHaveTextAsync("#default");
        await Expect(bar.Title).ToHaveTextAsync("#default");
        await Expect(foo.Conversation("#default")).ToHaveAttributeAsync("aria-current", "true");

        await foo.SendAsync("hello bar, lunch at noon?");
        await Expect(bar.Message("hello bar, lunch at noon?")).ToBeVisibleAsync();
        await bar.SendAsync("sounds good!\nsee you there");
        await Expect(foo.Message("sounds good!\nsee you there")).ToBeVisibleAsync();
        await Expect(bar.Message("sounds good!\nsee you there")).ToBeVisibleAsync();

        // Clicking a sender's name starts a private conversation with them.
        await foo.Page.Locator("#messages button.sender", new PageLocatorOptions { HasText = "bar_user" }).First.ClickAsync();
        await Expect(foo.Title).ToHaveTextAsync("bar_user");
        await foo.SendAsync("psst, bring the slides");
        await Expect(foo.Message("psst, bring the slides")).ToBeVisibleAsync();

        await Expect(bar.UnreadBadge("foo_user")).ToHaveTextAsync("1");
        await bar.OpenConversationAsync("foo_user");
        await Expect(bar.Message("psst, bring the slides")).ToBeVisibleAsync();
        await Expect(bar.UnreadBadge("foo_user")).ToHaveCountAsync(0);
        await bar.SendAsync("will do");
        await Expect(foo.Message("will do")).ToBeVisibleAsync();

        // A private message never leaks into the room.
        await foo.OpenConversationAsync("#default");
        await Expect(foo.Message("will do")).ToHaveCountAsync(0);
        await Expect(foo.MessageTexts).ToHaveCountAsync(2);

        await foo.Page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(RepositoryRoot(), "docs", "screenshot.png") });
    }
}
