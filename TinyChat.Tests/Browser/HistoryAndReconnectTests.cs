using Microsoft.Extensions.DependencyInjection;
using TinyChat.Web;
using static Microsoft.Playwright.Assertions;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Browser;

/// <summary>Older history on scroll-back, and catching up without gaps or duplicates after the connection drops.</summary>
[TestFixture]
public sealed class HistoryAndReconnectTests : BrowserTest
{
    /// <summary>Seeding history is not what these tests are about: lift the message and frame rates.</summary>
    protected override IDictionary<string, string> ServerSettings => new Dictionary<string, string>
    {
        ["Limits:MessagesPerSecond"] = "10000",
        ["Limits:MessageBurst"] = "10000",
        ["Limits:FramesPerSecond"] = "10000",
        ["Limits:FrameBurst"] = "10000",
    };

    [Test]
    public async Task Scrolling_up_loads_older_history_page_by_page()
    {
        await using (var seeder = await Server.ConnectAsync("bar_token"))
        {
            await seeder.RequestAsync(Frame(("command", "join")));
            // One connection's frames are handled in order: send all, then wait for the last one's acknowledgement.
            for (var i = 1; i < 120; i++)
            {
                await seeder.SendAsync(new { room = "default", message = $"message {i:000}" });
            }

            var last = await seeder.RequestAsync(Frame(("room", "default"), ("message", "message 120")));
            Assert.That(last.GetProperty("id").GetInt64(), Is.EqualTo(120));
        }

        var foo = await OpenChatAsync("foo_token", "foo");

        // The newest page (50) is shown, scrolled to the bottom.
        await Expect(foo.Message("message 120")).ToBeInViewportAsync();
        await Expect(foo.MessageTexts).ToHaveCountAsync(50);
        await Expect(foo.MessageTexts.First).ToHaveTextAsync("message 071");

        await foo.Scroller.EvaluateAsync("el => { el.scrollTop = 0; }");
        await Expect(foo.MessageTexts).ToHaveCountAsync(100);
        await Expect(foo.MessageTexts.First).ToHaveTextAsync("message 021");
        // The reader's place is kept: what was at the top is still in view, the new page is above it.
        await Expect(foo.Message("message 071")).ToBeInViewportAsync();

        await foo.Scroller.EvaluateAsync("el => { el.scrollTop = 0; }");
        await Expect(foo.MessageTexts).ToHaveCountAsync(120);
        await Expect(foo.MessageTexts.First).ToHaveTextAsync("message 001");
        await Expect(foo.Page.Locator("#history-start")).ToHaveTextAsync("This is the beginning of #default.");
        var texts = await foo.MessageTexts.AllTextContentsAsync();
        Assert.That(texts, Is.EqualTo(Enumerable.Range(1, 120).Select(i => $"message {i:000}")));
    }

    [Test]
    public async Task After_a_dropped_connection_the_page_reconnects_and_shows_what_it_missed_exactly_once()
    {
        var foo = await OpenChatAsync("foo_token", "foo", PageNetwork.InstallAsync);
        await using (var bar = await Server.ConnectAsync("bar_token"))
        {
            await bar.RequestAsync(Frame(("command", "join")));
            await bar.RequestAsync(Frame(("room", "default"), ("message", "before the drop")));
            await bar.RequestAsync(Frame(("to", "foo_user"), ("message", "private before")));
        }

        await Expect(foo.Message("before the drop")).ToBeVisibleAsync();
        await Expect(foo.UnreadBadge("bar_user")).ToHaveTextAsync("1");

        // The server cuts the page's connection, and the page's network is down, so its reconnects fail.
        var connections = Server.Services.GetRequiredService<OpenConnections>();
        await PageNetwork.DownAsync(foo.Page);
        Assert.That(connections.CloseIdle(TimeSpan.Zero), Is.EqualTo(1));
        await Expect(foo.Status).ToContainTextAsync("Disconnected");
        await WaitUntilAsync(() => connections.CountOf("foo_user") == 0);
        await PageNetwork.RefusedAttemptAsync(foo.Page);

        await using (var bar = await Server.ConnectAsync("bar_token"))
        {
            for (var i = 1; i <= 3; i++)
            {
                await bar.RequestAsync(Frame(("room", "default"), ("message", $"while away {i}")));
            }

            await bar.RequestAsync(Frame(("to", "foo_user"), ("message", "private while away")));
        }

        Assert.That(connections.CountOf("foo_user"), Is.Zero, "the page must have been away while these were sent");
        await PageNetwork.UpAsync(foo.Page);

        // The page reconnects on its own backoff; pressing Retry (if it shows it by now) only skips the wait.
        await foo.Page.EvaluateAsync("() => document.getElementById('retry')?.click()");
        await Expect(foo.MessageTexts).ToHaveTextAsync(["before the drop", "while away 1", "while away 2", "while away 3"], new() { Timeout = 30_000 });
        await Expect(foo.Status).ToHaveTextAsync("Connected");
        await Expect(foo.UnreadBadge("bar_user")).ToHaveTextAsync("2");

        // Live delivery works on the new connection, and nothing shows twice.
        await using (var bar = await Server.ConnectAsync("bar_token"))
        {
            await bar.RequestAsync(Frame(("room", "default"), ("message", "after the return")));
        }

        await Expect(foo.MessageTexts).ToHaveTextAsync(["before the drop", "while away 1", "while away 2", "while away 3", "after the return"]);
        await foo.OpenConversationAsync("bar_user");
        await Expect(foo.MessageTexts).ToHaveTextAsync(["private before", "private while away"]);
    }

    // Bounded: the server's own bookkeeping, looked at every 20 ms for at most 30 s.
    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var waited = 0; !condition(); waited += 20)
        {
            Assert.That(waited, Is.LessThan(30_000), "the server did not let go of the page's connection within 30 s");
            await Task.Delay(20);
        }
    }
}
