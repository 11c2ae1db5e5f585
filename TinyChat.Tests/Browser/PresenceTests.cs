using Microsoft.Playwright;
using TinyChat.Tests.Support;
using static Microsoft.Playwright.Assertions;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Browser;

/// <summary>Who is online and who is typing, live (presence frames: see the presence section of docs/protocol.md).</summary>
[TestFixture]
public sealed class PresenceTests : BrowserTest
{

    [Test]
    public async Task The_online_list_follows_people_live_and_a_person_with_two_tabs_stays_online_until_both_close()
    {
        var foo = await OpenChatAsync("foo_token", "foo");
        await Expect(foo.OnlineUser("foo_user")).ToHaveTextAsync("foo_user (you)");
        await Expect(foo.OnlineUser("bar_user")).ToHaveCountAsync(0);

        var barTab1 = await OpenChatAsync("bar_token", "bar tab 1");
        await Expect(foo.OnlineUser("bar_user")).ToBeVisibleAsync();
        await Expect(barTab1.OnlineUser("foo_user")).ToBeVisibleAsync();
        var barTab2 = await OpenTabAsync(barTab1, "bar tab 2");
        await Expect(barTab2.OnlineUser("foo_user")).ToBeVisibleAsync();
        await Expect(foo.OnlineUsers).ToHaveCountAsync(2);

        // A room joined or left in one tab follows in the other (the room's presence tells it).
        await barTab1.JoinRoomAsync("lobby", create: true);
        await Expect(barTab2.Conversation("#lobby")).ToBeVisibleAsync();
        await barTab1.LeaveAsync();
        await Expect(barTab2.Conversation("#lobby")).ToHaveCountAsync(0);
        await Expect(barTab1.Conversation("#lobby")).ToHaveCountAsync(0);

        await CloseTabAsync(barTab1);
        await using (var observer = await Server.ConnectAsync("foo_token"))
        {
            await WaitForConnectionsAsync(observer, "bar_user", 1);
        }

        // Everything the server said about bar before now has reached foo's page once foo's own echo has.
        await foo.SendAsync("still there, bar?");
        await Expect(foo.Message("still there, bar?")).ToBeVisibleAsync();
        await Expect(foo.OnlineUser("bar_user")).ToBeVisibleAsync();

        await CloseTabAsync(barTab2);
        await Expect(foo.OnlineUser("bar_user")).ToHaveCountAsync(0);
        await Expect(foo.OnlineUsers).ToHaveCountAsync(1);

        var barAgain = await OpenChatAsync("bar_token", "bar again");
        await Expect(foo.OnlineUser("bar_user")).ToBeVisibleAsync();

        // Clicking someone in the online list starts a private conversation with them.
        await foo.Page.GetByRole(AriaRole.Button, new PageGetByRoleOptions { Name = "Message bar_user privately" }).ClickAsync();
        await Expect(foo.Title).ToHaveTextAsync("bar_user");
        await foo.SendAsync("welcome back");
        await Expect(barAgain.UnreadBadge("foo_user")).ToHaveTextAsync("1");
    }

    [Test]
    public async Task Typing_shows_for_a_few_seconds_in_rooms_and_private_conversations()
    {
        var foo = await OpenChatAsync("foo_token", "foo");
        var bar = await OpenChatAsync("bar_token", "bar");

        await bar.Composer.PressSequentiallyAsync("hel");
        await Expect(foo.Typing).ToHaveTextAsync("bar_user is typing…");
        await Expect(bar.Typing).ToHaveTextAsync("");
        // Shown for about three seconds after the last keystroke, then gone without any message.
        await Expect(foo.Typing).ToHaveTextAsync("", new LocatorAssertionsToHaveTextOptions { Timeout = 10_000 });

        await foo.OpenPrivateAsync("bar_user");
        await bar.OpenPrivateAsync("foo_user");
        await bar.Composer.PressSequentiallyAsync("psst");
        await Expect(foo.Typing).ToHaveTextAsync("bar_user is typing…");
        await bar.Composer.PressAsync("Enter");
        await Expect(foo.Message("psst")).ToBeVisibleAsync();
        await Expect(foo.Typing).ToHaveTextAsync("");
    }

    /// <summary>Asks the server (not the page) until <paramref name="user"/> has <paramref name="count"/> connections in default.</summary>
    private static async Task WaitForConnectionsAsync(ChatSocket socket, string user, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (true)
        {
            var who = await socket.RequestAsync(Frame(("command", "who"), ("room", "default")));
            if (who.TryGetProperty("presence_state", out var state)
                && state.TryGetProperty(user, out var meta)
                && meta.GetProperty("connections").GetInt32() == count)
            {
                return;
            }

            Assert.That(DateTime.UtcNow, Is.LessThan(deadline), $"server never reported {count} connection(s) of {user}: {who}");
            await Task.Delay(50);
        }
    }
}
