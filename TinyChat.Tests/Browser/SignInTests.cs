using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace TinyChat.Tests.Browser;

/// <summary>Which user a tab is, signing out, and the sign-in screen's registration and error messages.</summary>
[TestFixture]
public sealed class SignInTests : BrowserTest
{
    [Test]
    public async Task Two_tabs_of_one_browser_keep_their_own_users_across_reloads_and_sign_out_separately()
    {
        var foo = await OpenChatAsync("foo_token", "foo tab");
        var bar = await OpenTabAsync(foo, "bar tab", "bar_token");
        await Expect(foo.Me).ToHaveTextAsync("foo_user");
        await Expect(bar.Me).ToHaveTextAsync("bar_user");

        // Opening bar's tab made bar the default for new tabs, but foo's tab stays foo's.
        await foo.Page.ReloadAsync();
        await Expect(foo.Status).ToHaveTextAsync("Connected");
        await Expect(foo.Me).ToHaveTextAsync("foo_user");
        await bar.Page.ReloadAsync();
        await Expect(bar.Status).ToHaveTextAsync("Connected");
        await Expect(bar.Me).ToHaveTextAsync("bar_user");
        var newTab = await OpenTabAsync(foo, "new tab");
        await Expect(newTab.Me).ToHaveTextAsync("bar_user");

        // Signing out bar signs out bar's tabs only.
        await bar.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Sign out" }).ClickAsync();
        await Expect(bar.Page.GetByLabel("Access token")).ToBeVisibleAsync();
        await Expect(newTab.Page.GetByLabel("Access token")).ToBeVisibleAsync();
        await foo.SendAsync("foo is still here");
        await Expect(foo.Message("foo is still here")).ToBeVisibleAsync();
        await Expect(foo.Status).ToHaveTextAsync("Connected");
        await Expect(foo.Me).ToHaveTextAsync("foo_user");

        // A reload after signing out does not bring bar back; foo's tab still reloads as foo.
        await bar.Page.ReloadAsync();
        await Expect(bar.Page.GetByLabel("Access token")).ToBeVisibleAsync();
        await foo.Page.ReloadAsync();
        await Expect(foo.Status).ToHaveTextAsync("Connected");
        await Expect(foo.Me).ToHaveTextAsync("foo_user");
    }

    [Test]
    public async Task Signing_out_in_one_browser_context_leaves_another_signed_in_as_the_same_user()
    {
        var fooHere = await OpenChatAsync("foo_token", "foo here");
        var fooThere = await OpenChatAsync("foo_token", "foo in another profile");
        var bar = await OpenChatAsync("bar_token", "bar");

        await fooHere.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Sign out" }).ClickAsync();
        await Expect(fooHere.Page.GetByLabel("Access token")).ToBeVisibleAsync();

        // Another context is another browser profile: nothing tells it, and it goes on chatting.
        await fooThere.SendAsync("still signed in over here");
        await Expect(bar.Message("still signed in over here")).ToBeVisibleAsync();
        await Expect(fooThere.Me).ToHaveTextAsync("foo_user");
        await Expect(bar.Status).ToHaveTextAsync("Connected");
    }

    [Test]
    public async Task Signing_out_one_tab_signs_out_that_users_other_tabs_in_the_same_context()
    {
        var foo1 = await OpenChatAsync("foo_token", "foo tab 1");
        var foo2 = await OpenTabAsync(foo1, "foo tab 2", "foo_token");
        var bar = await OpenTabAsync(foo1, "bar tab", "bar_token");

        await foo2.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Sign out" }).ClickAsync();
        await Expect(foo2.Page.GetByLabel("Access token")).ToBeVisibleAsync();
        await Expect(foo1.Page.GetByLabel("Access token")).ToBeVisibleAsync();
        await Expect(bar.Status).ToHaveTextAsync("Connected");
        await bar.SendAsync("bar stays");
        await Expect(bar.Message("bar stays")).ToBeVisibleAsync();
    }

    [Test]
    public async Task After_registering_the_token_is_shown_once_with_a_copy_button()
    {
        // At phone width, where a long token must not push the page sideways.
        var alice = await OpenChatAsync(
            token: null, "alice", context => context.GrantPermissionsAsync(["clipboard-read", "clipboard-write"]), new ViewportSize { Width = 360, Height = 740 });
        await alice.Page.GetByLabel("Choose a user name").FillAsync("alice");
        await alice.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Register" }).ClickAsync();
        await Expect(alice.Status).ToHaveTextAsync("Connected");

        var field = alice.Page.GetByLabel("Your access token");
        var token = await field.InputValueAsync();
        Assert.That(token, Is.Not.Empty);
        await Expect(alice.Notices.First).ToContainTextAsync("Save this now");
        Assert.That(await alice.Page.EvaluateAsync<int>("() => document.documentElement.scrollWidth"), Is.LessThanOrEqualTo(360));
        await alice.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Copy", Exact = true }).ClickAsync();
        await Expect(alice.Page.Locator(".copy-token")).ToHaveTextAsync("Copied");
        Assert.That(await alice.Page.EvaluateAsync<string>("() => navigator.clipboard.readText()"), Is.EqualTo(token));

        // The copied token signs in.
        var again = await OpenChatAsync(token, "alice elsewhere");
        await Expect(again.Me).ToHaveTextAsync("alice");
    }

    [Test]
    public async Task The_sign_in_screen_tells_a_wrong_token_from_an_unreachable_server()
    {
        var page = (await OpenChatAsync(token: null, "visitor")).Page;
        await page.GetByLabel("Access token").FillAsync("not-a-token");
        await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Sign in" }).ClickAsync();
        await Expect(page.Locator("#signin-error")).ToContainTextAsync("Wrong access token");

        await Server.StopAsync();
        await page.GetByLabel("Access token").FillAsync("foo_token");
        await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Sign in" }).ClickAsync();
        await Expect(page.Locator("#signin-error")).ToContainTextAsync("Cannot reach the server");
        await Expect(page.GetByLabel("Access token")).ToHaveValueAsync("foo_token");
    }
}
