using TinyChat.Chat;
using TinyChat.Protocols.Irc;

namespace TinyChat.Tests.Irc;

public sealed class IrcChannelViewTests
{
    private static readonly DateTimeOffset Now = DateTimeOffset.UnixEpoch;

    private static (IrcChannelView View, IrcEventEncoder Encoder) ViewOf(string nick)
    {
        var users = new IrcUsers("irc.test");
        var encoder = new IrcEventEncoder(users, tags: false);
        var replies = new IrcReplies("irc.test", users, new IrcChannelOperators()) { Nick = nick };
        return (new IrcChannelView(nick, encoder, replies), encoder);
    }

    private static string Lines(IrcRendering rendering) => rendering.Own ?? "";

    // What the connection is sent: the event's shared lines, or its own.
    private static string Sent(IrcChannelView view, IrcEventEncoder encoder, ChatEvent chatEvent)
    {
        var rendering = view.Render(chatEvent);
        return rendering.Shared ? System.Text.Encoding.UTF8.GetString(chatEvent.EncodeWith(encoder).Span) : Lines(rendering);
    }

    [Test]
    public void A_connection_that_hears_its_own_join_before_the_greeting_gets_the_join_once_and_then_the_names()
    {
        // The session tells the room the user is online and the connection asks for its greeting, separately: the
        // room may announce the user's own arrival to the new connection first.
        var (view, encoder) = ViewOf("carol");
        var joined = Sent(view, encoder, new PresenceDiff("default", [new PresenceEntry("carol", Now, 1)], []));
        var greeting = Lines(view.Render(new PresenceState("default", [new PresenceEntry("carol", Now, 1), new PresenceEntry("foo_user", Now, 1)])));

        Assert.That(joined, Does.Contain("JOIN #default"));
        Assert.That(greeting, Does.Not.Contain("JOIN"), "the channel is already on screen");
        Assert.That(greeting, Does.Contain(" 353 carol = #default :").And.Contain("foo_user").And.Contain(" 366 carol #default "));

        // Said once: a later resynchronisation of a channel on screen adds nothing.
        Assert.That(Lines(view.Render(new PresenceState("default", [new PresenceEntry("carol", Now, 1)]))), Is.Empty);
    }

    [Test]
    public void A_greeting_before_any_diff_gives_the_join_and_the_names_and_the_diff_after_it_nothing_more()
    {
        var (view, encoder) = ViewOf("carol");
        var greeting = Lines(view.Render(new PresenceState("default", [new PresenceEntry("carol", Now, 1)])));
        var joined = Sent(view, encoder, new PresenceDiff("default", [new PresenceEntry("carol", Now, 1)], []));

        Assert.That(greeting, Does.Contain("JOIN #default").And.Contain(" 366 carol #default "));
        Assert.That(joined, Is.Empty, "carol's own arrival is already on screen");
    }
}
