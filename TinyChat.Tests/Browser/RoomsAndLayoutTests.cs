using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Browser;

/// <summary>Finding rooms, never being stuck without one, and the phone layout at 360 px.</summary>
[TestFixture]
public sealed class RoomsAndLayoutTests : BrowserTest
{
    private const string LongRoom = "a-very-long-room-name-that-keeps-going-and-going-without-any-spa";
    private const string LongUser = "someone_with_a_very_long_name_32";

    [Test]
    public async Task After_reconnecting_to_a_server_that_forgot_the_rooms_the_page_offers_a_way_forward_and_keeps_the_draft()
    {
        var foo = await OpenChatAsync("foo_token", "foo");
        await Expect(foo.Title).ToHaveTextAsync("#default");
        await foo.Composer.FillAsync("my unsent draft");

        await RestartServerOnEmptyDataAsync();
        // Skip the backoff. An attempt still in flight from before may fail and wait longer, so press Retry once
        // the page is waiting (any attempt started after this point reaches the server).
        await Expect(foo.Page.Locator("#retry")).ToBeVisibleAsync();
        await foo.Page.EvaluateAsync("() => document.getElementById('retry').click()");
        await Expect(foo.Status).ToHaveTextAsync("Connected");

        var empty = foo.Page.Locator("#empty-state");
        await Expect(empty).ToBeVisibleAsync();
        await Expect(foo.Conversation("#default")).ToHaveCountAsync(0);
        await Expect(foo.Composer).ToHaveValueAsync("my unsent draft");
        await Expect(empty.GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Browse rooms" })).ToBeVisibleAsync();

        await empty.GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Join #default" }).ClickAsync();
        await Expect(foo.Title).ToHaveTextAsync("#default");
        await Expect(empty).ToBeHiddenAsync();
        await Expect(foo.Composer).ToHaveValueAsync("my unsent draft");
        await Expect(foo.Composer).ToBeEnabledAsync();
        await foo.Composer.PressAsync("Enter");
        await Expect(foo.Message("my unsent draft")).ToBeVisibleAsync();
        await Expect(foo.OnlineUser("foo_user")).ToBeVisibleAsync();
    }

    [Test]
    public async Task The_room_browser_lists_every_room_with_join_and_open()
    {
        var foo = await OpenChatAsync("foo_token", "foo");
        await using (var bar = await Server.ConnectAsync("bar_token"))
        {
            await bar.RequestAsync(Frame(("command", "create"), ("room", "lobby")));
        }

        await foo.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Browse", Exact = true }).ClickAsync();
        var browser = foo.Page.Locator("#room-browser");
        await Expect(browser.Locator(".room-row-name")).ToHaveTextAsync(["#default", "#lobby"]);
        await Expect(browser.GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Open #default" })).ToBeVisibleAsync();
        await browser.GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Join #lobby" }).ClickAsync();
        await Expect(foo.Title).ToHaveTextAsync("#lobby");
        await Expect(browser).ToBeHiddenAsync();
        await Expect(foo.Conversation("#lobby")).ToBeVisibleAsync();
        await foo.SendAsync("first in the lobby");
        await Expect(foo.Message("first in the lobby")).ToBeVisibleAsync();
    }

    [Test]
    public async Task At_360_px_names_fit_actions_sit_in_a_menu_and_leaving_default_asks_first()
    {
        var token = await Server.RegisterAsync(LongUser);
        await using (var someone = await Server.ConnectAsync(token))
        {
            var created = await someone.RequestAsync(Frame(("command", "create"), ("room", LongRoom)));
            Assert.That(created.TryGetProperty("success", out _), Is.True, created.ToString());
            await someone.RequestAsync(Frame(("command", "join"), ("room", LongRoom)));
            await someone.RequestAsync(Frame(("room", LongRoom), ("message", "see https://example.org/" + new string('x', 120) + " and `a_very_long_identifier_without_any_breaks_at_all_in_it`")));
        }

        var phone = new ViewportSize { Width = 360, Height = 740 };
        var foo = await OpenChatAsync("foo_token", "foo", viewport: phone);
        await foo.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Show conversations" }).ClickAsync();
        await foo.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Browse", Exact = true }).ClickAsync();
        await foo.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = $"Join #{LongRoom}" }).ClickAsync();
        await Expect(foo.Title).ToHaveTextAsync($"#{LongRoom}");
        await Expect(foo.MessageTexts).ToHaveCountAsync(1);
        await AssertNoSidewaysScrollingAsync(foo.Page);

        // The whole name is on screen: it wraps instead of being cut.
        Assert.That(await foo.Title.EvaluateAsync<bool>("t => t.scrollWidth <= t.clientWidth"), Is.True, "the room name is not cut");
        Assert.That(await foo.Title.EvaluateAsync<double>("t => t.getBoundingClientRect().right"), Is.LessThanOrEqualTo(360));

        // Long names in the sidebar are cut with an ellipsis and a tooltip.
        await foo.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Show conversations" }).ClickAsync();
        await Expect(foo.Conversation($"#{LongRoom}").Locator(".conv-name")).ToHaveAttributeAsync("title", $"#{LongRoom}");
        await AssertNoSidewaysScrollingAsync(foo.Page);
        await foo.Page.Keyboard.PressAsync("Escape");
        await foo.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Online (" }).ClickAsync();
        await AssertNoSidewaysScrollingAsync(foo.Page);
        await foo.Page.Keyboard.PressAsync("Escape");

        // Leave is in the menu, not in the header.
        var leave = foo.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Leave room" });
        await Expect(leave).ToBeHiddenAsync();
        await foo.LeaveAsync();
        await Expect(foo.Title).ToHaveTextAsync("#default");

        // Leaving #default asks first; staying keeps it.
        await foo.LeaveAsync();
        await Expect(foo.Page.Locator("#leave-confirm")).ToContainTextAsync("Leave #default?");
        await AssertNoSidewaysScrollingAsync(foo.Page);
        await foo.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Stay" }).ClickAsync();
        await Expect(foo.Title).ToHaveTextAsync("#default");
        await foo.LeaveAsync();
        await foo.Page.Locator("#leave-confirmed").ClickAsync();
        await Expect(foo.Page.Locator("#empty-state")).ToBeVisibleAsync();
        await AssertNoSidewaysScrollingAsync(foo.Page);
    }

    private static async Task AssertNoSidewaysScrollingAsync(IPage page)
    {
        var width = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth");
        Assert.That(width, Is.LessThanOrEqualTo(360), "nothing may overflow sideways at 360 px");
    }
}
