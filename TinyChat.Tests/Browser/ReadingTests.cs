using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Browser;

/// <summary>Issue 15's reading flows in Chromium against the real server: mention badges cleared across tabs, @name completion, search and jump to context.</summary>
[TestFixture]
public sealed class ReadingTests : BrowserTest
{
    /// <inheritdoc />
    protected override IDictionary<string, string>? ServerSettings => new Dictionary<string, string> { ["Limits:MessagesPerSecond"] = "0" };

    private static ILocator MentionBadge(ChatPage page, string label) => page.Conversation(label).Locator(".mention-badge");

    [Test]
    public async Task A_mention_shows_a_badge_on_every_tab_and_reading_it_on_one_clears_the_others()
    {
        var foo = await OpenChatAsync("foo_token", "foo");
        var laptop = await OpenChatAsync("bar_token", "bar laptop");
        await Expect(laptop.Title).ToHaveTextAsync("#default");
        await laptop.JoinRoomAsync("side", create: true);
        var phone = await OpenChatAsync("bar_token", "bar phone");
        await phone.OpenConversationAsync("#side");

        // @name completion in the composer: candidates are the people of the room.
        await foo.Composer.PressSequentiallyAsync("hey @ba");
        var suggestion = foo.Page.Locator("#mention-suggestions .suggestion");
        await Expect(suggestion).ToHaveTextAsync(["@bar_user"]);
        await foo.Composer.PressAsync("Tab");
        await Expect(foo.Composer).ToHaveValueAsync("hey @bar_user ");
        await foo.Composer.PressSequentiallyAsync("the build is green");
        await foo.Composer.PressAsync("Enter");
        await Expect(foo.Composer).ToHaveValueAsync("");

        foreach (var tab in new[] { laptop, phone })
        {
            await Expect(MentionBadge(tab, "#default")).ToHaveTextAsync("@1");
            await Expect(tab.UnreadBadge("#default")).ToHaveTextAsync("1");
        }

        await laptop.OpenConversationAsync("#default");
        await Expect(laptop.Page.Locator("#messages .msg.mentions-me .mention.me")).ToHaveTextAsync("@bar_user");
        await Expect(MentionBadge(laptop, "#default")).ToHaveCountAsync(0);
        await Expect(MentionBadge(phone, "#default")).ToHaveCountAsync(0);
        await Expect(phone.UnreadBadge("#default")).ToHaveCountAsync(0);
    }

    [Test]
    public async Task A_search_result_opens_the_message_in_its_context()
    {
        await using (var poster = await Server.ConnectAsync("foo_token"))
        {
            await poster.RequestAsync(Frame(("command", "join"), ("room", "default")));
            for (var i = 0; i < 5; i++)
            {
                await poster.RequestAsync(Frame(("room", "default"), ("message", $"early filler {i}")));
            }

            await poster.RequestAsync(Frame(("room", "default"), ("message", "the needle is in this haystack")));
            for (var i = 0; i < 80; i++)
            {
                await poster.RequestAsync(Frame(("room", "default"), ("message", $"later filler {i}")));
            }
        }

        var bar = await OpenChatAsync("bar_token", "bar");
        await Expect(bar.Message("later filler 79")).ToBeVisibleAsync();
        await Expect(bar.Message("the needle is in this haystack")).ToHaveCountAsync(0);

        var search = bar.Page.GetByRole(AriaRole.Searchbox, new PageGetByRoleOptions { Name = "Search messages" });
        await search.FillAsync("needle");
        await search.PressAsync("Enter");
        var hit = bar.Page.Locator("#search-list .search-hit");
        await Expect(hit).ToHaveCountAsync(1);
        await Expect(hit.Locator("mark")).ToHaveTextAsync("needle");
        await Expect(hit.Locator(".search-hit-where")).ToHaveTextAsync("#default");

        await search.FillAsync("nothing-like-this");
        await search.PressAsync("Enter");
        await Expect(bar.Page.Locator("#search-empty")).ToBeVisibleAsync();
        await search.FillAsync("needle");
        await search.PressAsync("Enter");
        await hit.ClickAsync();

        await Expect(bar.Title).ToHaveTextAsync("#default");
        var found = bar.Page.Locator("#messages .msg.found");
        await Expect(found.Locator(".msg-text")).ToHaveTextAsync("the needle is in this haystack");
        await Expect(found).ToBeInViewportAsync();
        await Expect(bar.Message("early filler 4")).ToHaveCountAsync(1);
        await Expect(bar.Message("later filler 79")).ToHaveCountAsync(1);
    }
}
