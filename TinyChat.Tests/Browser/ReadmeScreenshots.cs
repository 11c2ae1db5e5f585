using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Browser;

/// <summary>
/// The README's screenshots (desktop and phone width) from a short conversation. Under <c>make test</c> they go to
/// a temporary folder, so the checkout stays clean; <c>make screenshot</c> sets TINYCHAT_SCREENSHOT_DIR=docs.
/// </summary>
[TestFixture]
public sealed class ReadmeScreenshots : BrowserTest
{
    [Test]
    public async Task Desktop_and_phone_screenshots_of_a_conversation()
    {
        var target = Environment.GetEnvironmentVariable("TINYCHAT_SCREENSHOT_DIR");
        var directory = string.IsNullOrEmpty(target)
            ? Directory.CreateTempSubdirectory("tinychat-screenshots").FullName
            : Path.GetFullPath(target, RepositoryRoot());
        try
        {
            var desk = await OpenChatAsync("foo_token", "foo");
            var phone = await OpenChatAsync("bar_token", "bar", viewport: new ViewportSize { Width = 360, Height = 740 });
            await using (var carol = await Server.ConnectAsync(await Server.RegisterAsync("carol")))
            {
                await carol.RequestAsync(Frame(("command", "join")));
                await carol.RequestAsync(Frame(("room", "default"), ("message", "morning! the release notes are at https://example.org/notes")));
            }

            await phone.SendAsync("thanks carol, *reading them now*");
            await desk.SendAsync("the config key is `Limits:MessagesPerSecond`:\n```\n\"Limits\": { \"MessagesPerSecond\": 20 }\n```");
            await phone.SendAsync("lunch at noon?");
            await desk.SendAsync("sounds good, see you there");
            await Expect(desk.Message("sounds good, see you there")).ToBeVisibleAsync();
            await Expect(phone.Message("sounds good, see you there")).ToBeVisibleAsync();
            await Expect(desk.OnlineUsers).ToHaveTextAsync(["bar_user", "foo_user (you)"]);
            await desk.Page.Mouse.MoveAsync(0, 0);

            var desktopPath = Path.Combine(directory, "screenshot.png");
            var phonePath = Path.Combine(directory, "screenshot-phone.png");
            await desk.Page.ScreenshotAsync(new PageScreenshotOptions { Path = desktopPath });
            await phone.Page.ScreenshotAsync(new PageScreenshotOptions { Path = phonePath });
            Assert.That(new FileInfo(desktopPath).Length, Is.GreaterThan(1000));
            Assert.That(new FileInfo(phonePath).Length, Is.GreaterThan(1000));
        }
        finally
        {
            if (string.IsNullOrEmpty(target))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }
}
