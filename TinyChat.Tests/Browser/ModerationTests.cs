using Microsoft.Playwright;

namespace TinyChat.Tests.Browser;

/// <summary>Private rooms, invitations, the topic, editing and deleting, and moderation menus in the web client.</summary>
public sealed class ModerationTests : BrowserTest
{
    private static PageGetByRoleOptions Named(string name) => new() { Name = name, Exact = true };

    // The row of the message whose text is exactly this.
    private static ILocator Row(ChatPage chat, string text) =>
        chat.Page.Locator("#messages .msg").Filter(new LocatorFilterOptions { Has = chat.Page.Locator(".msg-text", new PageLocatorOptions { HasTextRegex = new System.Text.RegularExpressions.Regex($"^{System.Text.RegularExpressions.Regex.Escape(text)}$") }) });

    private static ILocator SystemLine(ChatPage chat, string text) =>
        chat.Page.Locator("#messages .room-event .event-text").Filter(new LocatorFilterOptions { HasText = text });

    [Test]
    public async Task An_owner_creates_a_private_room_invites_a_user_who_joins_from_the_notice_and_sets_the_topic()
    {
        var carolToken = await Server.RegisterAsync("carol");
        var bar = await OpenChatAsync("bar_token", "bar");
        var carol = await OpenChatAsync(carolToken, "carol");

        await bar.Page.GetByRole(AriaRole.Button, Named("Join or create a room")).ClickAsync();
        await bar.Page.GetByLabel("Room name").FillAsync("secret");
        await bar.Page.GetByLabel("Private (invitation only)").CheckAsync();
        await bar.Page.GetByRole(AriaRole.Button, Named("Create")).ClickAsync();
        await Assertions.Expect(bar.Title).ToHaveTextAsync("#secret");
        await Assertions.Expect(bar.Page.Locator("#conv-private")).ToBeVisibleAsync();

        await bar.Page.GetByRole(AriaRole.Button, Named("Conversation actions")).ClickAsync();
        await bar.Page.GetByLabel("User to invite").FillAsync("carol");
        await bar.Page.GetByLabel("User to invite").PressAsync("Enter");
        await Assertions.Expect(SystemLine(bar, "bar_user invited carol")).ToBeVisibleAsync();

        await Assertions.Expect(carol.Notices.Filter(new LocatorFilterOptions { HasText = "bar_user invited you to #secret" })).ToBeVisibleAsync();
        await carol.Page.GetByRole(AriaRole.Button, Named("Join #secret")).ClickAsync();
        await Assertions.Expect(carol.Title).ToHaveTextAsync("#secret");
        await Assertions.Expect(carol.Page.Locator("#conv-private")).ToBeVisibleAsync();
        await Assertions.Expect(SystemLine(carol, "bar_user invited you")).ToBeVisibleAsync();
        await Assertions.Expect(carol.OnlineUser("bar_user").Locator(".role-tag")).ToHaveAttributeAsync("data-role", "owner");

        // Only the owner's menu offers moderation.
        await carol.Page.GetByRole(AriaRole.Button, Named("Conversation actions")).ClickAsync();
        await Assertions.Expect(carol.Page.GetByLabel("User to invite")).ToBeHiddenAsync();
        await Assertions.Expect(carol.Page.GetByRole(AriaRole.Button, Named("Moderate bar_user"))).ToHaveCountAsync(0);

        await bar.Page.GetByRole(AriaRole.Button, Named("Change topic")).ClickAsync();
        await bar.Page.GetByLabel("Room topic").FillAsync("launch on friday");
        await bar.Page.GetByLabel("Room topic").PressAsync("Enter");
        await Assertions.Expect(carol.Page.Locator("#conv-topic")).ToHaveTextAsync("launch on friday");
        await Assertions.Expect(SystemLine(carol, "bar_user set the topic: launch on friday")).ToBeVisibleAsync();
    }

    [Test]
    public async Task Arrow_up_edits_the_last_own_message_and_the_menu_deletes_one_for_everyone()
    {
        var foo = await OpenChatAsync("foo_token", "foo");
        var bar = await OpenChatAsync("bar_token", "bar");
        await foo.SendAsync("first thought");
        await foo.SendAsync("teh plan");
        await Assertions.Expect(bar.Message("teh plan")).ToBeVisibleAsync();

        await foo.Composer.PressAsync("ArrowUp");
        var editor = foo.Page.GetByLabel("Edit message");
        await Assertions.Expect(editor).ToHaveValueAsync("teh plan");
        await editor.FillAsync("the plan");
        await editor.PressAsync("Enter");
        await Assertions.Expect(bar.Message("the plan")).ToBeVisibleAsync();
        await Assertions.Expect(Row(bar, "the plan").Locator(".edited")).ToHaveTextAsync("(edited)");
        await Assertions.Expect(foo.Message("the plan")).ToBeVisibleAsync();
        await Assertions.Expect(bar.Message("teh plan")).ToHaveCountAsync(0);

        var first = Row(foo, "first thought");
        await first.HoverAsync();
        await first.GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Message actions" }).ClickAsync();
        await first.GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Delete", Exact = true }).ClickAsync();
        await first.GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Delete for everyone?" }).ClickAsync();
        await Assertions.Expect(bar.Message("first thought")).ToHaveCountAsync(0);
        await Assertions.Expect(bar.Page.Locator("#messages .msg-text.deleted")).ToHaveTextAsync("message deleted");

        // Someone else's message offers no edit, and a member no delete.
        var barsView = Row(bar, "the plan");
        await Assertions.Expect(barsView.GetByRole(AriaRole.Button, new LocatorGetByRoleOptions { Name = "Message actions" })).ToHaveCountAsync(0);
    }

    [Test]
    public async Task A_server_admin_bans_a_member_from_the_member_menu_and_the_room_leaves_their_list()
    {
        var foo = await OpenChatAsync("foo_token", "foo");
        var bar = await OpenChatAsync("bar_token", "bar");
        await Assertions.Expect(foo.OnlineUser("bar_user")).ToBeVisibleAsync();

        await foo.Page.GetByRole(AriaRole.Button, Named("Moderate bar_user")).ClickAsync();
        await foo.Page.GetByRole(AriaRole.Button, Named("Ban")).ClickAsync();
        await Assertions.Expect(SystemLine(foo, "foo_user banned bar_user")).ToBeVisibleAsync();
        await Assertions.Expect(foo.OnlineUser("bar_user")).ToHaveCountAsync(0);

        await Assertions.Expect(bar.Notices.Filter(new LocatorFilterOptions { HasText = "foo_user banned you from #default" })).ToBeVisibleAsync();
        await Assertions.Expect(bar.Conversation("#default")).ToHaveCountAsync(0);
        await bar.Page.GetByRole(AriaRole.Button, Named("Join or create a room")).ClickAsync();
        await bar.Page.GetByLabel("Room name").FillAsync("default");
        await bar.Page.GetByRole(AriaRole.Button, Named("Join")).ClickAsync();
        await Assertions.Expect(bar.Notices.Filter(new LocatorFilterOptions { HasText = "(banned)" })).ToBeVisibleAsync();
        await Assertions.Expect(bar.Conversation("#default")).ToHaveCountAsync(0);
    }
}
