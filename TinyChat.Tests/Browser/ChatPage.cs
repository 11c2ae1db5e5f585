using System.Text.RegularExpressions;
using Microsoft.Playwright;

namespace TinyChat.Tests.Browser;

/// <summary>The web client as a person sees it: locators by role, label and the client's stable class names.</summary>
public sealed class ChatPage
{
    private readonly List<string> problems = [];

    public ChatPage(IPage page, string name)
    {
        Page = page;
        Name = name;
        page.Console += (_, message) =>
        {
            if (message.Type == "error" && message.Text.Contains("Content Security Policy", StringComparison.OrdinalIgnoreCase))
            {
                problems.Add($"CSP: {message.Text}");
            }
        };
        page.PageError += (_, error) => problems.Add($"script error: {error}");
    }

    /// <summary>Who this page is, for messages.</summary>
    public string Name { get; }

    public IPage Page { get; }

    /// <summary>Script errors and CSP violations seen so far.</summary>
    public IReadOnlyList<string> Problems => problems;

    public ILocator Status => Page.Locator("#conn-status");

    public ILocator Title => Page.Locator("#conv-title");

    public ILocator Me => Page.Locator("#me-name");

    public ILocator Messages => Page.Locator("#messages .msg");

    public ILocator MessageTexts => Page.Locator("#messages .msg-text");

    public ILocator Composer => Page.Locator("#message-input");

    public ILocator Notices => Page.Locator("#notices .notice");

    public ILocator Typing => Page.Locator("#typing");

    public ILocator OnlineUsers => Page.Locator("#online-list li");

    public ILocator Scroller => Page.Locator("#scroller");

    /// <summary>A message whose text is exactly <paramref name="text"/>.</summary>
    public ILocator Message(string text) =>
        Page.Locator("#messages .msg-text").Filter(new LocatorFilterOptions { HasTextRegex = Exact(text) });

    /// <summary>The sidebar entry of a conversation ("#default", "bar_user").</summary>
    public ILocator Conversation(string label) =>
        Page.Locator("#sidebar .conv").Filter(new LocatorFilterOptions { Has = Page.Locator(".conv-name").Filter(new LocatorFilterOptions { HasTextRegex = Exact(label) }) });

    public ILocator UnreadBadge(string label) => Conversation(label).Locator(".badge");

    public ILocator OnlineUser(string user) =>
        OnlineUsers.Filter(new LocatorFilterOptions { HasTextRegex = new Regex($"^{Regex.Escape(user)}( \\(you\\))?$") });

    /// <summary>Types a message and presses Enter.</summary>
    public async Task SendAsync(string text)
    {
        await Composer.FillAsync(text);
        await Composer.PressAsync("Enter");
        await Assertions.Expect(Composer).ToHaveValueAsync("");
    }

    /// <summary>Clicks a conversation in the sidebar and waits until it is shown.</summary>
    public async Task OpenConversationAsync(string label)
    {
        await Conversation(label).ClickAsync();
        await Assertions.Expect(Title).ToHaveTextAsync(label);
    }

    /// <summary>Joins (or creates and joins) a room through the sidebar form.</summary>
    public async Task JoinRoomAsync(string room, bool create = false)
    {
        await Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Join or create a room" }).ClickAsync();
        await Page.GetByLabel("Room name").FillAsync(room);
        await Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = create ? "Create" : "Join", Exact = true }).ClickAsync();
        await Assertions.Expect(Title).ToHaveTextAsync($"#{room}");
    }

    /// <summary>Leaves the current room (or closes the private conversation) through the header's menu.</summary>
    public async Task LeaveAsync()
    {
        await Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Conversation actions" }).ClickAsync();
        await Page.Locator("#leave").ClickAsync();
    }

    /// <summary>Opens a private conversation through the sidebar form.</summary>
    public async Task OpenPrivateAsync(string user)
    {
        await Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Start a private conversation" }).ClickAsync();
        var field = Page.GetByLabel("User name", new PageGetByLabelOptions { Exact = true });
        await field.FillAsync(user);
        await field.PressAsync("Enter");
        await Assertions.Expect(Title).ToHaveTextAsync(user);
    }

    private static Regex Exact(string text) => new($"^{Regex.Escape(text)}$");
}
