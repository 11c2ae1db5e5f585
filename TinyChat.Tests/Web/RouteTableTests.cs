using TinyChat.Web;

namespace TinyChat.Tests.Web;

public sealed class RouteTableTests
{
    private static readonly RouteHandler Nothing = (_, _) => Task.CompletedTask;

    [Test]
    public void Exact_paths_win_then_the_longest_prefix()
    {
        var chat = new Route("/chat", Nothing);
        var api = new Route("/api/", Nothing, MatchesPrefix: true);
        var rooms = new Route("/api/rooms/", Nothing, MatchesPrefix: true);
        var users = new Route("/api/users", Nothing);
        var table = new RouteTable([chat, api, rooms, users]);

        Assert.Multiple(() =>
        {
            Assert.That(table.Find("/chat"), Is.SameAs(chat));
            Assert.That(table.Find("/chat/x"), Is.Null, "an exact route does not answer below itself");
            Assert.That(table.Find("/api/users"), Is.SameAs(users));
            Assert.That(table.Find("/api/rooms/default/messages"), Is.SameAs(rooms));
            Assert.That(table.Find("/api/other"), Is.SameAs(api));
            Assert.That(table.Find("/index.html"), Is.Null);
        });
    }

    [Test]
    public void A_path_registered_twice_stops_composition()
    {
        Assert.That(() => new RouteTable([new Route("/chat", Nothing), new Route("/chat", Nothing)]), Throws.InvalidOperationException.With.Message.Contains("/chat"));
    }
}
