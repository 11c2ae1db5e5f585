using Microsoft.Playwright;

namespace TinyChat.Tests.Browser;

/// <summary>
/// One Playwright driver and one headless Debian chromium for every browser fixture: starting them costs seconds,
/// a fresh context per page costs milliseconds and isolates just as well.
/// </summary>
[SetUpFixture]
public sealed class BrowserSession
{
    /// <summary>Where Debian installs chromium; <c>make browser</c> installs it. Override with TINYCHAT_CHROMIUM.</summary>
    public static readonly string ChromiumPath = Environment.GetEnvironmentVariable("TINYCHAT_CHROMIUM") ?? "/usr/bin/chromium";

    private static readonly string[] ChromiumArgs =
    [
        "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
    ];

    private static IPlaywright? playwright;
    private static IBrowser? browser;

    /// <summary>The shared browser.</summary>
    public static IBrowser Browser => browser ?? throw new InvalidOperationException("no browser: BrowserSession did not start");

    [OneTimeSetUp]
    public async Task LaunchBrowser()
    {
        if (!File.Exists(ChromiumPath))
        {
            Assert.Fail($"{ChromiumPath} is missing: run `make browser` (apt-get install chromium). Never `playwright install`.");
        }

        // A machine shared with other builds can be slow; waits are expectations, so a generous ceiling costs nothing when things are fast.
        Assertions.SetDefaultExpectTimeout(10_000);
        playwright = await Playwright.CreateAsync();
        browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = ChromiumPath,
            Headless = true,
            Args = ChromiumArgs,
        });
    }

    [OneTimeTearDown]
    public async Task CloseBrowser()
    {
        if (browser is not null)
        {
            await browser.CloseAsync();
            browser = null;
        }

        playwright?.Dispose();
        playwright = null;
    }
}
