using TinyChat.Hosting;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Irc;

/// <summary>The <c>Irc</c> section is validated at start, and IRC can be turned off.</summary>
[TestFixture]
public sealed class IrcConfigurationTests
{
    [TestCase("Irc:Port", "70000")]
    [TestCase("Irc:ServerName", "my server")]
    [TestCase("Irc:ServerName", "")]
    [TestCase("Irc:RegistrationTimeoutSeconds", "0")]
    [TestCase("Irc:OutboxCapacity", "1")]
    [TestCase("Irc:MaxUnregisteredConnections", "0")]
    public void An_invalid_irc_option_stops_start_up_with_one_line_naming_the_key(string key, string value)
    {
        var ex = Assert.CatchAsync(() => TestServer.StartAsync(new Dictionary<string, string> { [key] = value, ["Storage:Provider"] = "memory" }));
        var problem = StartupProblem.Of(ex!);
        Assert.That(problem, Does.StartWith(key), ex!.ToString());
        Assert.That(problem, Does.Not.Contain("\n"));
    }

    [Test]
    public async Task With_Irc_Enabled_false_nothing_listens_for_IRC()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Irc:Enabled"] = "false", ["Storage:Provider"] = "memory" });
        Assert.That(IrcTestClient.EndpointOf(server), Is.Null);
    }
}
