using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using TinyChat.Web;
using static Microsoft.Playwright.Assertions;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Browser;

/// <summary>What the message list shows besides plain text: links, formatting, avatars, day dividers, join/leave lines, stale presence.</summary>
[TestFixture]
public sealed class TimelineTests : BrowserTest
{
    [Test]
    public async Task Links_are_clickable_only_for_http_https_and_mailto_and_html_stays_text()
    {
        var foo = await OpenChatAsync("foo_token", "foo");
        var bar = await OpenChatAsync("bar_token", "bar");
        var dialogs = new List<string>();
        bar.Page.Dialog += (_, dialog) => dialogs.Add(dialog.Message);
        const string text = "docs at https://example.org/a?b=1, mail mailto:ops@example.org or javascript:alert(1) "
            + "<a href=\"javascript:alert(2)\">click</a> JavaScript:alert(3) https://example.org/\"onmouseover=alert(4)";
        await foo.SendAsync(text);

        var message = bar.Message(text);
        await Expect(message).ToBeVisibleAsync();
        var links = message.Locator("a");
        await Expect(links).ToHaveCountAsync(3);
        await Expect(links.Nth(0)).ToHaveAttributeAsync("href", "https://example.org/a?b=1");
        await Expect(links.Nth(0)).ToHaveTextAsync("https://example.org/a?b=1");
        await Expect(links.Nth(0)).ToHaveAttributeAsync("rel", "noopener noreferrer");
        await Expect(links.Nth(0)).ToHaveAttributeAsync("target", "_blank");
        await Expect(links.Nth(1)).ToHaveAttributeAsync("href", "mailto:ops@example.org");
        await Expect(links.Nth(2)).ToHaveAttributeAsync("href", "https://example.org/");
        var hrefs = await bar.Page.Locator("#messages a").EvaluateAllAsync<string[]>("links => links.map((a) => a.getAttribute('href'))");
        Assert.That(hrefs, Has.None.Contains("javascript").IgnoreCase);
        Assert.That(await message.Locator("[onmouseover], [onclick]").CountAsync(), Is.Zero);
        await message.Locator("a").Nth(2).HoverAsync();
        Assert.That(dialogs, Is.Empty);
    }

    [Test]
    public async Task Code_code_blocks_and_emphasis_are_formatted_without_interpreting_html()
    {
        var foo = await OpenChatAsync("foo_token", "foo");
        await foo.SendAsync("run `make <b>test</b>` *now*, 2 * 3 * 4\n```\nif (a < b) { <i>x</i> }\n```");
        var message = foo.MessageTexts.Last;
        await Expect(message.Locator(":scope > code")).ToHaveTextAsync("make <b>test</b>");
        await Expect(message.Locator("em")).ToHaveTextAsync("now");
        await Expect(message.Locator("pre code")).ToHaveTextAsync("if (a < b) { <i>x</i> }");
        await Expect(message).ToContainTextAsync("2 * 3 * 4");
        await Expect(foo.Page.Locator("#messages b, #messages i, #messages script")).ToHaveCountAsync(0);
    }

    [Test]
    public async Task The_formatter_never_links_other_schemes_and_days_are_named()
    {
        var chat = await OpenChatAsync(token: null, "modules");
        var result = await chat.Page.EvaluateAsync<JsonElement>("""
            async () => {
              const { safeHref, formatMessage, dayLabel, initials } = await import('/format.js');
              const anchors = (text) => formatMessage(text).filter((n) => n.nodeName === 'A').map((a) => a.getAttribute('href'));
              const now = new Date(2026, 5, 15, 10, 0);
              return {
                hrefs: ['javascript:alert(1)', 'data:text/html,x', 'vbscript:x', 'https://a.example/x', 'ftp://a.example/']
                  .map((u) => safeHref(u)),
                links: anchors('(see https://a.example/x) and javascript:alert(1) or JAVASCRIPT://%0aalert(1)'),
                today: dayLabel(new Date(2026, 5, 15, 0, 1), now),
                yesterday: dayLabel(new Date(2026, 5, 14, 23, 59), now),
                older: dayLabel(new Date(2026, 5, 10, 12, 0), now),
                initials: [initials('foo_user'), initials('alice'), initials('x-y-z')],
              };
            }
            """);
        Assert.Multiple(() =>
        {
            Assert.That(result.GetProperty("hrefs").EnumerateArray().Select(e => e.ValueKind == JsonValueKind.Null ? null : e.GetString()),
                Is.EqualTo(new string?[] { null, null, null, "https://a.example/x", null }));
            Assert.That(result.GetProperty("links").EnumerateArray().Select(e => e.GetString()), Is.EqualTo(new[] { "https://a.example/x" }));
            Assert.That(result.GetProperty("today").GetString(), Is.EqualTo("Today"));
            Assert.That(result.GetProperty("yesterday").GetString(), Is.EqualTo("Yesterday"));
            Assert.That(result.GetProperty("older").GetString(), Does.Contain("10").And.Contain("June"));
            Assert.That(result.GetProperty("initials").EnumerateArray().Select(e => e.GetString()), Is.EqualTo(new[] { "FU", "A", "XY" }));
        });
    }

    [Test]
    public async Task Messages_show_a_day_divider_avatars_and_own_messages_without_a_selection_tint()
    {
        var foo = await OpenChatAsync("foo_token", "foo");
        var bar = await OpenChatAsync("bar_token", "bar");
        await bar.SendAsync("hello from bar");
        await foo.SendAsync("hello from foo");
        await Expect(foo.Message("hello from bar")).ToBeVisibleAsync();

        await Expect(foo.Page.Locator("#messages .new-day .day-divider")).ToHaveTextAsync(["Today"]);
        var barRow = foo.Messages.Filter(new LocatorFilterOptions { HasText = "hello from bar" });
        var fooRow = foo.Messages.Filter(new LocatorFilterOptions { HasText = "hello from foo" });
        await Expect(barRow.Locator(".avatar")).ToHaveTextAsync("BU");
        await Expect(fooRow.Locator(".avatar")).ToHaveTextAsync("FU");
        await Expect(fooRow).ToHaveClassAsync(new System.Text.RegularExpressions.Regex(@"\bmine\b"));
        await Expect(fooRow.Locator(".you-tag")).ToHaveTextAsync("you");
        await Expect(barRow.Locator(".you-tag")).ToHaveCountAsync(0);
        await foo.Page.Mouse.MoveAsync(0, 0);
        var backgrounds = await foo.Messages.EvaluateAllAsync<string[]>("rows => rows.map((r) => getComputedStyle(r).backgroundColor)");
        Assert.That(backgrounds.Distinct(), Is.EqualTo(new[] { "rgba(0, 0, 0, 0)" }), "own messages are not tinted like a selection");
    }

    [Test]
    public async Task People_coming_and_going_show_as_lines_in_the_timeline_collapsed_when_in_a_row()
    {
        var foo = await OpenChatAsync("foo_token", "foo");
        var events = foo.Page.Locator("#messages .event-text");

        // "Connected" comes before the page has the room's presence; a diff before it would be no change to show.
        await Expect(foo.OnlineUsers).ToContainTextAsync(["foo_user"]);
        var sockets = new List<Support.ChatSocket>();
        try
        {
            var bar = await Server.ConnectAsync("bar_token");
            sockets.Add(bar);
            await bar.RequestAsync(Frame(("command", "join")));
            await Expect(events).ToHaveTextAsync(["bar_user joined"]);

            foreach (var name in new[] { "carol", "dave", "erin", "frank" })
            {
                var socket = await Server.ConnectAsync(await Server.RegisterAsync(name));
                sockets.Add(socket);
                await socket.RequestAsync(Frame(("command", "join")));
            }

            await Expect(events).ToHaveTextAsync(["bar_user, carol and 3 others joined"]);
            await Expect(events).ToHaveAttributeAsync("title", "bar_user joined\ncarol joined\ndave joined\nerin joined\nfrank joined");

            // A message ends the run; who leaves after it gets a new line.
            await foo.SendAsync("hi everyone");
            await Expect(foo.Message("hi everyone")).ToBeVisibleAsync();
            await bar.DisposeAsync();
            sockets.Remove(bar);
            await Expect(events).ToHaveTextAsync(["bar_user, carol and 3 others joined", "bar_user left"]);
            await Expect(foo.MessageTexts).ToHaveTextAsync(["hi everyone"]);
        }
        finally
        {
            foreach (var socket in sockets)
            {
                await socket.DisposeAsync();
            }
        }
    }

    [Test]
    public async Task While_disconnected_the_online_list_is_greyed_until_the_fresh_presence_arrives()
    {
        var foo = await OpenChatAsync("foo_token", "foo", PageNetwork.InstallAsync);
        await OpenChatAsync("bar_token", "bar");
        var panel = foo.Page.Locator("#online");
        await Expect(foo.OnlineUsers).ToHaveCountAsync(2);
        await Expect(panel).Not.ToHaveClassAsync(new System.Text.RegularExpressions.Regex(@"\bstale\b"));

        var connections = Server.Services.GetRequiredService<OpenConnections>();
        await PageNetwork.DownAsync(foo.Page);
        connections.CloseIdle(TimeSpan.Zero);
        await Expect(foo.Status).ToContainTextAsync("Disconnected");
        await PageNetwork.RefusedAttemptAsync(foo.Page);
        await Expect(panel).ToHaveClassAsync(new System.Text.RegularExpressions.Regex(@"\bstale\b"));
        await Expect(foo.Page.Locator("#online-stale")).ToBeVisibleAsync();
        // CloseIdle also cut bar's page, whose leave may or may not have reached foo first: look at foo's own entry.
        var dot = await foo.OnlineUser("foo_user").Locator(".dot").EvaluateAsync<string>("d => getComputedStyle(d).backgroundColor");
        Assert.That(dot, Is.Not.EqualTo("rgb(47, 158, 68)"), "no green dot for presence we cannot vouch for");

        await PageNetwork.UpAsync(foo.Page);
        // Skip the backoff. An attempt still in flight from before may fail and wait longer, so press Retry once
        // the page is waiting (any attempt started after this point reaches the server).
        await Expect(foo.Page.Locator("#retry")).ToBeVisibleAsync();
        await foo.Page.EvaluateAsync("() => document.getElementById('retry').click()");
        await Expect(foo.Status).ToHaveTextAsync("Connected");
        await Expect(panel).Not.ToHaveClassAsync(new System.Text.RegularExpressions.Regex(@"\bstale\b"));
        await Expect(foo.Page.Locator("#online-stale")).ToBeHiddenAsync();
        await Expect(foo.OnlineUsers).ToHaveTextAsync(["bar_user", "foo_user (you)"]);
    }
}
