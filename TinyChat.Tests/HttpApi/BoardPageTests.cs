using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using TinyChat.Protocols.Http;

// In the Browser namespace: its set-up fixture starts the shared Chromium, and the non-browser suite leaves it out.
namespace TinyChat.Tests.Browser;

/// <summary>The board page (static/board.html) in Chromium: posts with fetch, follows the room with EventSource.</summary>
[TestFixture]
public sealed class BoardPageTests : BrowserTest
{
    private readonly List<ChatPage> boards = [];

    protected override IDictionary<string, string>? ServerSettings => new Dictionary<string, string> { ["Sse:RetryMilliseconds"] = "200" };

    [TearDown]
    public async Task CloseBoards()
    {
        var problems = boards.SelectMany(b => b.Problems.Select(p => $"{b.Name}: {p}")).ToList();
        foreach (var board in boards)
        {
            await board.Page.Context.CloseAsync();
        }

        boards.Clear();
        Assert.That(problems, Is.Empty, "the board logged script errors or Content-Security-Policy violations");
    }

    [Test]
    public async Task Two_tabs_see_a_post_through_event_source_and_the_page_recovers_when_the_stream_is_dropped()
    {
        var foo = await OpenBoardAsync("foo_token", "foo");
        var bar = await OpenBoardAsync("bar_token", "bar");
        await Assertions.Expect(foo.Page.Locator("#board-node")).ToHaveTextAsync("local");
        await Assertions.Expect(foo.Page.Locator("#board-user")).ToHaveTextAsync("foo_user");

        await PostAsync(foo, "hello board");
        await Assertions.Expect(Messages(foo).Locator(".from")).ToHaveTextAsync(["foo_user"]);
        await Assertions.Expect(Messages(foo).Locator(".text")).ToHaveTextAsync(["hello board"]);
        await Assertions.Expect(Messages(bar).Locator(".text")).ToHaveTextAsync(["hello board"]);

        // The server drops every stream; each page's EventSource comes back with the id of the last message it
        // showed, and a message posted meanwhile still reaches both pages, once.
        var lastShown = await Messages(foo).Last.GetAttributeAsync("data-id");
        Assert.That(lastShown, Is.Not.Null.And.Not.Empty);
        var reconnects = new[] { foo, bar }
            .Select(b => b.Page.WaitForRequestAsync(r => r.Url.Contains("/events", StringComparison.Ordinal), new() { Timeout = 30_000 }))
            .ToList();
        Server.Services.GetRequiredService<OpenEventStreams>().EndAll("test drops the stream");
        await PostAsync(bar, "while you were away");
        foreach (var reconnect in reconnects)
        {
            Assert.That(await (await reconnect).HeaderValueAsync("last-event-id"), Is.EqualTo(lastShown), "the page resumes where it was");
        }

        await Assertions.Expect(foo.Page.Locator("#board-status")).ToHaveTextAsync("live");
        await PostAsync(bar, "after the reconnect");
        foreach (var page in new[] { foo, bar })
        {
            await Assertions.Expect(Messages(page).Locator(".text")).ToHaveTextAsync(["hello board", "while you were away", "after the reconnect"]);
        }
    }

    private static ILocator Messages(ChatPage page) => page.Page.Locator("#board-messages li");

    private static async Task PostAsync(ChatPage page, string text)
    {
        await page.Page.GetByLabel("Message").FillAsync(text);
        await page.Page.GetByRole(AriaRole.Button, new() { Name = "Post" }).ClickAsync();
        await Assertions.Expect(page.Page.GetByLabel("Message")).ToHaveValueAsync("");
    }

    private async Task<ChatPage> OpenBoardAsync(string token, string name)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = Server.BaseUri.ToString() });
        var page = await context.NewPageAsync();
        var board = new ChatPage(page, name);
        boards.Add(board);
        await page.GotoAsync($"/board.html?access_token={Uri.EscapeDataString(token)}");
        await Assertions.Expect(page.Locator("#board-status")).ToHaveTextAsync("live");
        return board;
    }
}
