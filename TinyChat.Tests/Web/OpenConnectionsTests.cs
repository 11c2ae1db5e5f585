using System.Net.WebSockets;
using TinyChat.Protocols.Json;
using TinyChat.Tests.Support;
using TinyChat.Web;

namespace TinyChat.Tests.Web;

[TestFixture]
public sealed class OpenConnectionsTests
{
    private static WebSocketConnection Connection(string user, TimeProvider clock)
    {
        var socket = WebSocket.CreateFromStream(new MemoryStream(), new WebSocketCreationOptions { IsServer = true });
        return new WebSocketConnection(socket, new JsonFrameEncoder(batch: false), new ConnectionLimits(1024, 8, 1024), user, clock);
    }

    [Test]
    public void The_idle_sweep_closes_connections_silent_for_longer_than_the_timeout_on_the_injected_clock()
    {
        var clock = new ManualClock();
        var open = new OpenConnections(clock);
        var quiet = Connection("quiet", clock);
        open.Add(quiet);
        clock.Advance(TimeSpan.FromSeconds(50));
        var fresh = Connection("fresh", clock);
        open.Add(fresh);

        Assert.That(open.CloseIdle(TimeSpan.FromSeconds(60)), Is.Zero, "nobody is idle for a minute yet");
        clock.Advance(TimeSpan.FromSeconds(11));

        Assert.That(open.CloseIdle(TimeSpan.FromSeconds(60)), Is.EqualTo(1));
        Assert.That(quiet.ServerCloseStatus, Is.EqualTo(WebSocketCloseStatus.PolicyViolation));
        Assert.That(quiet.ServerCloseReason, Is.EqualTo("idle timeout: nothing received for 60 s"));
        Assert.That(fresh.ServerCloseReason, Is.Null);
    }
}
