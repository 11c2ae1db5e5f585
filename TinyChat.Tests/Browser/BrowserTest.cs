using Microsoft.Playwright;
using NUnit.Framework.Interfaces;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Browser;

/// <summary>
/// Base of the browser tests: the shared headless chromium, a fresh real server per test, and one browser
/// context (own cookies and localStorage, like a separate person) per opened chat page.
/// </summary>
[Category("Browser")]

// Alone: a browser test stops and restarts servers on fixed ports and checks that nothing answers there, so another
// fixture's server must not take a freed port; and Chromium under a parallel load misses its timeouts.
[NonParallelizable]
public abstract class BrowserTest
{
    private readonly List<ChatPage> pages = [];
    private TestServer? server;

    /// <summary>The server of the running test.</summary>
    protected TestServer Server => server ?? throw new InvalidOperationException("no server: SetUp did not run");

    /// <summary>The browser (shared by all browser fixtures, see <see cref="BrowserSession"/>).</summary>
    protected static IBrowser Browser => BrowserSession.Browser;

    /// <summary>Configuration overrides for this fixture's servers (keys such as <c>Limits:MessagesPerSecond</c>).</summary>
    protected virtual IDictionary<string, string>? ServerSettings => null;

    [SetUp]
    public async Task StartServer() => server = await TestServer.StartAsync(ServerSettings);

    [TearDown]
    public async Task CloseAll()
    {
        var problems = pages.SelectMany(p => p.Problems.Select(problem => $"{p.Name}: {problem}")).ToList();
        foreach (var context in pages.Select(p => p.Page.Context).Distinct())
        {
            await context.CloseAsync();
        }

        pages.Clear();
        if (server is not null)
        {
            await server.DisposeAsync();
            server = null;
        }

        // Script errors and CSP violations fail a test that otherwise passed; after a failure they are clues.
        if (TestContext.CurrentContext.Result.Outcome.Status == TestStatus.Passed)
        {
            Assert.That(problems, Is.Empty, "the page logged script errors or Content-Security-Policy violations");
        }
        else
        {
            foreach (var problem in problems)
            {
                TestContext.Out.WriteLine(problem);
            }
        }
    }

    /// <summary>
    /// Opens the client in a new browser context, signed in with <paramref name="token"/> through the URL (or on
    /// the sign-in screen when null), and waits until it is connected. <paramref name="beforeOpen"/> runs on the
    /// context before the page loads (to route its WebSocket, say).
    /// </summary>
    protected async Task<ChatPage> OpenChatAsync(
        string? token,
        string name,
        Func<IBrowserContext, Task>? beforeOpen = null,
        ViewportSize? viewport = null)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = Server.BaseUri.ToString(),
            ViewportSize = viewport ?? new ViewportSize { Width = 1100, Height = 700 },
            Locale = "en-GB",
            TimezoneId = "Europe/Berlin",
        });
        if (beforeOpen is not null)
        {
            await beforeOpen(context);
        }

        var page = await context.NewPageAsync();
        var chat = new ChatPage(page, name);
        pages.Add(chat);
        await page.GotoAsync(token is null ? "/" : $"/?access_token={Uri.EscapeDataString(token)}");
        if (token is not null)
        {
            await Assertions.Expect(chat.Status).ToHaveTextAsync("Connected");
        }

        return chat;
    }

    /// <summary>
    /// Another tab in the same context (same localStorage): without <paramref name="token"/> it signs in with the
    /// profile's default (at /chat.html this time), with one it is opened for that user through the URL.
    /// </summary>
    protected async Task<ChatPage> OpenTabAsync(ChatPage first, string name, string? token = null)
    {
        var page = await first.Page.Context.NewPageAsync();
        var chat = new ChatPage(page, name);
        pages.Add(chat);
        await page.GotoAsync(token is null ? "/chat.html" : $"/?access_token={Uri.EscapeDataString(token)}");
        await Assertions.Expect(chat.Status).ToHaveTextAsync("Connected");
        return chat;
    }

    /// <summary>
    /// Stops the server and starts a new one on the same port with an empty data directory (so it knows the seeded
    /// users but none of their rooms), under whatever pages are open.
    /// </summary>
    protected async Task RestartServerOnEmptyDataAsync()
    {
        var port = Server.BaseUri.Port;
        await Server.DisposeAsync();
        server = null;
        var settings = new Dictionary<string, string>(ServerSettings ?? new Dictionary<string, string>())
        {
            ["Server:Port"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        server = await TestServer.StartAsync(settings);
        Assert.That(server.BaseUri.Port, Is.EqualTo(port), "the restarted server must listen where the pages connect");
    }

    /// <summary>Closes one tab before the test ends (its context lives on if other tabs use it).</summary>
    protected async Task CloseTabAsync(ChatPage chat)
    {
        pages.Remove(chat);
        await chat.Page.CloseAsync();
    }

    /// <summary>The folder holding TinyChat.sln, found by walking up from the test binaries.</summary>
    protected static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "TinyChat.sln")))
            {
                return directory.FullName;
            }
        }

        throw new DirectoryNotFoundException($"no TinyChat.sln above {AppContext.BaseDirectory}");
    }
}
