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
        // Both pages run on clocks the test holds. Held, foo's "shown for three seconds" cannot run out between two
        // of the test's looks however slow the machine is, and bar (whose clock does not move) sends exactly one
        // typing notice per burst of keys, so none arrives late to show the line again.
        var foo = await OpenChatAsync("foo_token", "foo", context => context.Clock.InstallAsync());
        var bar = await OpenChatAsync("bar_token", "bar", context => context.Clock.InstallAsync());

        // The room drops typing from a member it does not yet know is online; foo seeing bar online proves it does.
        await Expect(foo.OnlineUser("bar_user")).ToBeVisibleAsync();
        await HoldClockAsync(foo);
        await HoldClockAsync(bar);
        await bar.Composer.PressSequentiallyAsync("hel");
        await Expect(foo.Typing).ToHaveTextAsync("bar_user is typing…");
        await Expect(bar.Typing).ToHaveTextAsync("");

        // Shown for three seconds of foo's time after the notice, then gone without any message.
        await foo.Page.Clock.RunForAsync(2_000);
        await Expect(foo.Typing).ToHaveTextAsync("bar_user is typing…");
        await foo.Page.Clock.RunForAsync(1_500);
        await Expect(foo.Typing).ToHaveTextAsync("");

        await foo.Page.Clock.ResumeAsync();
        await bar.Page.Clock.ResumeAsync();
        await foo.OpenPrivateAsync("bar_user");
        await bar.OpenPrivateAsync("foo_user");

        // Held again (bar's clock jumps past its last notice, so the next key sends one): the message, not the
        // timer, takes the line away.
        await HoldClockAsync(foo);
        await HoldClockAsync(bar);
        await bar.Composer.PressSequentiallyAsync("psst");
        await Expect(foo.Typing).ToHaveTextAsync("bar_user is typing…");
        await bar.Composer.PressAsync("Enter");
        await Expect(foo.Message("psst")).ToBeVisibleAsync();
        await Expect(foo.Typing).ToHaveTextAsync("");
    }

    /// <summary>Stops the page's clock a second after its present time: its timers fire only when the test runs it on.</summary>
    private static async Task HoldClockAsync(ChatPage chat)
    {
        var now = await chat.Page.EvaluateAsync<double>("Date.now()");
        await chat.Page.Clock.PauseAtAsync(DateTimeOffset.FromUnixTimeMilliseconds((long)now + 1_000).UtcDateTime);
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
