using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using TinyChat.Chat;
using TinyChat.Hosting;
using TinyChat.Storage.InMemory;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Hardening;

[TestFixture]
public sealed class CrashIsolationTests
{
    [Test]
    public async Task A_fault_caused_by_one_clients_input_is_contained_and_logged_once()
    {
        var logs = new LogCapture();
        // The poisoned store wraps the in-memory one: this test is about fault containment, not storage.
        await using var server = await TestServer.StartAsync(
            new Dictionary<string, string> { ["Storage:Provider"] = "memory" },
            services =>
            {
                logs.Install(services);
                services.RemoveAll<IMessageStore>();
                services.AddSingleton<IMessageStore>(sp => new PoisonedStore(sp.GetRequiredService<InMemoryStore>()));
            });
        await using var foo = await server.ConnectAsync("foo_token");
        await using var bar = await server.ConnectAsync("bar_token");
        await foo.RequestAsync(new() { ["command"] = "join" });
        await bar.RequestAsync(new() { ["command"] = "join" });

        var poisoned = await foo.RequestAsync(new() { ["room"] = "default", ["message"] = "poison" });
        Assert.That(poisoned.GetProperty("code").GetString(), Is.EqualTo("unavailable"));

        // Everyone, the offender included, carries on; the server did not escalate.
        var fine = await foo.RequestAsync(new() { ["room"] = "default", ["message"] = "fine" });
        Assert.That(fine.GetProperty("ok").GetBoolean(), Is.True);
        var seen = await bar.ExpectAsync(f => f.TryGetProperty("from", out _));
        Assert.That(seen.GetProperty("message").GetString(), Is.EqualTo("fine"));
        Assert.That(server.Services.GetRequiredService<SupervisionTree>().Failure, Is.Null);
        Assert.That(logs.Lines.Count(l => l.Contains("poisoned", StringComparison.Ordinal) && l.StartsWith("Warning", StringComparison.Ordinal)), Is.EqualTo(1));
    }
}
