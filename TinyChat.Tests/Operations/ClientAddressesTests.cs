using System.Net;
using Microsoft.Extensions.Options;
using TinyChat.Web;

namespace TinyChat.Tests.Operations;

/// <summary>Server:TrustedProxies: X-Forwarded-For counts only when a trusted proxy says it.</summary>
public sealed class ClientAddressesTests
{
    private static ClientAddresses With(params string[] proxies) => new(Options.Create(new ServerOptions { TrustedProxies = [.. proxies] }));

    [TestCase("203.0.113.9", "198.51.100.7", "203.0.113.9", Description = "an untrusted peer's header is ignored")]
    [TestCase("127.0.0.1", null, "127.0.0.1", Description = "a trusted proxy without the header is the client")]
    [TestCase("127.0.0.1", "198.51.100.7", "198.51.100.7", Description = "a trusted proxy names the client")]
    [TestCase("127.0.0.1", "6.6.6.6, 198.51.100.7", "198.51.100.7", Description = "what the client claimed before the proxy is not believed")]
    [TestCase("127.0.0.1", "198.51.100.7, 10.1.2.3", "198.51.100.7", Description = "trusted hops are skipped from the right")]
    [TestCase("127.0.0.1", "nonsense, 10.1.2.3", "10.1.2.3", Description = "garbage stops the walk at the last trusted hop")]
    [TestCase("::ffff:127.0.0.1", "2001:db8::1", "2001:db8::1", Description = "IPv4-mapped peers and IPv6 clients")]
    public void The_client_is_the_first_untrusted_address_from_the_right(string peer, string? forwardedFor, string expected)
    {
        var addresses = With("127.0.0.1", "10.0.0.0/8");

        Assert.That(addresses.Resolve(IPAddress.Parse(peer), forwardedFor), Is.EqualTo(IPAddress.Parse(expected)));
    }

    [Test]
    public void Without_trusted_proxies_the_header_never_counts()
    {
        Assert.That(With().Resolve(IPAddress.Loopback, "198.51.100.7"), Is.EqualTo(IPAddress.Loopback));
    }

    [TestCase("10.0.0.0/8", true)]
    [TestCase("::1", true)]
    [TestCase("192.168.1.1", true)]
    [TestCase("nginx", false)]
    [TestCase("10.0.0.0/99", false)]
    public void A_trusted_proxy_is_an_address_or_a_range(string text, bool valid)
    {
        Assert.That(ClientAddresses.TryParse(text) is not null, Is.EqualTo(valid));
    }
}
