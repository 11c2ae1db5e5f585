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
        // Shift+Enter is a new line, Enter sends.
        await bar.Composer.PressSequentiallyAsync("sounds good!");
        await bar.Composer.PressAsync("Shift+Enter");
        await bar.Composer.PressSequentiallyAsync("see you there");
        await Expect(bar.Composer).ToHaveValueAsync("sounds good!\nsee you there");
        await bar.Composer.PressAsync("Enter");
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

        await foo.SendAsync("great, I'll book a table for two");
        await Expect(bar.UnreadBadge("#default")).ToHaveTextAsync("1");
        await Expect(foo.OnlineUsers).ToHaveTextAsync(["bar_user", "foo_user (you)"]);
    }

    [Test]
    public async Task A_burst_of_messages_arriving_in_groups_shows_every_one_once_in_order()
    {
        var bar = await OpenChatAsync("bar_token", "bar");
        await Expect(bar.Title).ToHaveTextAsync("#default");
        await using var foo = await Server.ConnectAsync("foo_token");
        await foo.RequestAsync(new() { ["command"] = "join" });

        // Pipelined (within the default burst), so the room stores them together and the page gets batch=2 groups.
        var texts = Enumerable.Range(1, 25).Select(i => $"burst {i}").ToArray();
        foreach (var text in texts)
        {
            await foo.SendAsync(new { room = "default", message = text });
        }

        await Expect(bar.MessageTexts).ToHaveTextAsync(texts);
    }

    [Test]
    public async Task Markup_in_a_message_renders_as_text_and_runs_nothing()
    {
        var foo = await OpenChatAsync("foo_token", "foo");
        var bar = await OpenChatAsync("bar_token", "bar");
        var dialogs = new List<string>();
        foo.Page.Dialog += (_, dialog) => dialogs.Add(dialog.Message);
        bar.Page.Dialog += (_, dialog) => dialogs.Add(dialog.Message);
        string[] hostile = ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>", "<b>bold</b> &amp; \"quotes\""];

        foreach (var text in hostile)
        {
            await foo.SendAsync(text);
        }

        foreach (var text in hostile)
        {
            await Expect(bar.Message(text)).ToBeVisibleAsync();
            await Expect(foo.Message(text)).ToBeVisibleAsync();
        }

        // One more round trip gives an injected handler every chance to have fired before we look.
        await foo.SendAsync("done");
        await Expect(bar.Message("done")).ToBeVisibleAsync();
        await Expect(bar.Page.Locator("#messages img, #messages script, #messages b")).ToHaveCountAsync(0);
        await Expect(foo.Page.Locator("#messages img, #messages script, #messages b")).ToHaveCountAsync(0);
        Assert.That(dialogs, Is.Empty);
    }

    [Test]
    public async Task A_new_person_registers_on_the_sign_in_screen_chats_signs_out_and_back_in()
    {
        await using var foo = await Server.ConnectAsync("foo_token");
        await foo.RequestAsync(new Dictionary<string, object?> { ["command"] = "join" });
        var alice = await OpenChatAsync(token: null, "alice");
        var page = alice.Page;

        await page.GetByLabel("Access token").FillAsync("not-a-token");
        await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Sign in" }).ClickAsync();
        await Expect(page.Locator("#signin-error")).ToContainTextAsync("Wrong access token");

        await page.GetByLabel("Choose a user name").FillAsync("foo_user");
        await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Register" }).ClickAsync();
        await Expect(page.Locator("#signin-error")).ToContainTextAsync("taken");

        await page.GetByLabel("Choose a user name").FillAsync("alice");
        await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Register" }).ClickAsync();
        await Expect(alice.Status).ToHaveTextAsync("Connected");
        await Expect(alice.Me).ToHaveTextAsync("alice");
        await Expect(alice.Title).ToHaveTextAsync("#default");
        await Expect(alice.Notices.First).ToContainTextAsync("Your access token is");

        await alice.SendAsync("hi all, I am new");
        var seen = await foo.ExpectAsync(f => f.TryGetProperty("from", out var from) && from.GetString() == "alice");
        Assert.That(seen.GetProperty("message").GetString(), Is.EqualTo("hi all, I am new"));
        await foo.SendAsync(new { room = "default", message = "welcome alice" });
        await Expect(alice.Message("welcome alice")).ToBeVisibleAsync();

        var token = await page.EvaluateAsync<string>("() => localStorage.getItem('tinychat.token')");
        await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Sign out" }).ClickAsync();
        await Expect(page.GetByLabel("Access token")).ToBeVisibleAsync();
        Assert.That(await page.EvaluateAsync<string?>("() => localStorage.getItem('tinychat.token')"), Is.Null);

        await page.GetByLabel("Access token").FillAsync(token);
        await page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Sign in" }).ClickAsync();
        await Expect(alice.Status).ToHaveTextAsync("Connected");
        await Expect(alice.Message("welcome alice")).ToBeVisibleAsync();
        await Expect(alice.Message("hi all, I am new")).ToBeVisibleAsync();
    }

    [Test]
    public async Task Unread_counts_show_in_the_sidebar_until_the_conversation_is_opened()
    {
        var foo = await OpenChatAsync("foo_token", "foo");
        var bar = await OpenChatAsync("bar_token", "bar");
        await bar.JoinRoomAsync("lobby", create: true);
        await foo.JoinRoomAsync("lobby");
        await foo.OpenConversationAsync("#default");

        foreach (var text in new[] { "one", "two", "three" })
        {
            await bar.SendAsync(text);
        }

        await Expect(foo.UnreadBadge("#lobby")).ToHaveTextAsync("3");
        await Expect(foo.UnreadBadge("#default")).ToHaveCountAsync(0);
        await Expect(foo.Page).ToHaveTitleAsync("(3) TinyChat");

        await bar.OpenPrivateAsync("foo_user");
        await bar.SendAsync("are you there?");
        await Expect(foo.UnreadBadge("bar_user")).ToHaveTextAsync("1");
        await Expect(foo.Page).ToHaveTitleAsync("(4) TinyChat");

        await foo.OpenConversationAsync("#lobby");
        await Expect(foo.Conversation("#lobby")).ToHaveAttributeAsync("aria-current", "true");
        await Expect(foo.Conversation("#default")).Not.ToHaveAttributeAsync("aria-current", "true");
        await Expect(foo.UnreadBadge("#lobby")).ToHaveCountAsync(0);
        await Expect(foo.MessageTexts).ToHaveTextAsync(["one", "two", "three"]);
        await Expect(foo.Page).ToHaveTitleAsync("(1) TinyChat");

        // Messages that arrive in the conversation being read are not unread.
        await bar.OpenConversationAsync("#lobby");
        await bar.SendAsync("four");
        await Expect(foo.Message("four")).ToBeVisibleAsync();
        await Expect(foo.UnreadBadge("#lobby")).ToHaveCountAsync(0);

        await foo.LeaveAsync();
        await Expect(foo.Conversation("#lobby")).ToHaveCountAsync(0);
        await Expect(foo.Title).ToHaveTextAsync("#default");

        // Errors from the server are shown, not swallowed.
        await foo.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Join or create a room" }).ClickAsync();
        await foo.Page.GetByLabel("Room name").FillAsync("nosuchroom");
        await foo.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Join", Exact = true }).ClickAsync();
        await Expect(foo.Notices.Last).ToContainTextAsync("(room_not_found)");
        await Expect(foo.Title).ToHaveTextAsync("#default");
    }

    [Test]
    public async Task At_phone_width_the_sidebar_is_a_drawer_and_chatting_works()
    {
        var bar = await OpenChatAsync("bar_token", "bar");
        var foo = await OpenChatAsync("foo_token", "foo", viewport: new ViewportSize { Width = 375, Height = 700 });
        var sidebar = foo.Page.Locator("#sidebar");
        await Expect(sidebar).ToBeHiddenAsync();

        await foo.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Show conversations" }).ClickAsync();
        await Expect(sidebar).ToBeVisibleAsync();
        await foo.OpenConversationAsync("#default");
        await Expect(sidebar).ToBeHiddenAsync();

        await foo.SendAsync("from my phone");
        await Expect(bar.Message("from my phone")).ToBeVisibleAsync();
        await bar.SendAsync("a rather long reply that has to wrap on a narrow screen instead of making the page scroll sideways");
        await Expect(foo.Message("a rather long reply that has to wrap on a narrow screen instead of making the page scroll sideways")).ToBeVisibleAsync();
        Assert.That(await foo.Page.EvaluateAsync<bool>("() => document.documentElement.scrollWidth <= window.innerWidth"), Is.True, "no sideways scrolling");
    }
}
