using TinyChat.Tests.Support;

namespace TinyChat.Tests.Irc;

/// <summary>Floods from IRC clients go through the chat's rate limits.</summary>
[TestFixture]
public sealed class IrcFloodTests
{
    [Test]
    public async Task Messages_over_the_rate_are_refused_with_a_notice_and_a_flood_ends_with_ERROR()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string>
        {
            ["Storage:Provider"] = "memory",
            ["Limits:MessagesPerSecond"] = "0.01",
            ["Limits:MessageBurst"] = "2",
            ["Limits:FloodDisconnectAfter"] = "3",
        });
        await using var irc = await IrcTestClient.RegisterAsync(server, "bar_user", "bar_token");
        await irc.SendAsync("JOIN #default");
        await irc.SyncAsync();
        for (var i = 0; i < 10; i++)
        {
            await irc.SendAsync($"PRIVMSG #default :spam {i}");
        }

        var rest = await irc.ReadToCloseAsync();
        Assert.That(rest.Count(l => l.Contains(" NOTICE bar_user :#default: message not sent")), Is.EqualTo(2));
        Assert.That(rest[^1], Is.EqualTo("ERROR :Closing link: Excess Flood"));
    }
}
