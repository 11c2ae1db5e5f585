using System.Net;
using System.Text.Json;
using TinyChat.Hosting;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Operations;

/// <summary>What an operator sees of a running server: the version in /healthz, JSON logs, limits behind a proxy.</summary>
public sealed class OperationsStoriesTests
{
    [Test]
    public async Task Healthz_names_the_version_that_version_prints()
    {
        await using var server = await TestServer.StartAsync();

        var health = JsonDocument.Parse(await server.Http.GetStringAsync("/healthz")).RootElement;

        Assert.That("tinychat " + health.GetProperty("version").GetString(), Is.EqualTo(TinyChat.Hosting.CommandLine.VersionText));
        Assert.That(health.GetProperty("status").GetString(), Is.EqualTo("ok"));
    }

    [Test]
    public async Task Behind_a_trusted_proxy_registrations_are_limited_per_forwarded_address()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string>
        {
            ["Server:TrustedProxies:0"] = "127.0.0.1",
            ["Limits:RegistrationsPerMinutePerAddress"] = "1",
        });

        async Task<HttpStatusCode> RegisterAsync(string name, string forwardedFor)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/users") { Content = JsonContent(new { username = name }) };
            request.Headers.Add("X-Forwarded-For", forwardedFor);
            using var response = await server.Http.SendAsync(request);
            return response.StatusCode;
        }

        Assert.That(await RegisterAsync("alice", "198.51.100.1"), Is.EqualTo(HttpStatusCode.Created));
        Assert.That(await RegisterAsync("bob", "198.51.100.1"), Is.EqualTo((HttpStatusCode)429), "same client behind the proxy");
        Assert.That(await RegisterAsync("carol", "198.51.100.2"), Is.EqualTo(HttpStatusCode.Created), "another client behind the same proxy");
    }

    [Test]
    public void A_bad_trusted_proxy_or_log_format_stops_start_up_with_the_key()
    {
        var proxy = Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(() => TestServer.StartAsync(new Dictionary<string, string> { ["Server:TrustedProxies:0"] = "my-proxy" }));
        Assert.That(StartupProblem.Of(proxy!), Does.Contain("Server:TrustedProxies: 'my-proxy'"));

        var format = Assert.ThrowsAsync<TinyChat.Runtime.StartupException>(() => TestServer.StartAsync(new Dictionary<string, string> { ["Logging:Format"] = "xml" }));
        Assert.That(format!.Message, Is.EqualTo("Logging:Format must be \"simple\" or \"json\", got \"xml\""));
    }

    private static StringContent JsonContent(object value) => new(JsonSerializer.Serialize(value), System.Text.Encoding.UTF8, "application/json");
}
