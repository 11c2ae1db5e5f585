using Microsoft.Extensions.DependencyInjection;
using TinyChat.Protocols.Http;
using TinyChat.Tests.Support;
using static TinyChat.Tests.HttpApi.Api;

namespace TinyChat.Tests.HttpApi;

/// <summary>The HTTP API's per-user request budgets: still enforced, and forgotten by the idle sweep once refilled (make growth).</summary>
[TestFixture]
public sealed class RequestBudgetTests
{
    [Test]
    public async Task The_idle_sweep_forgets_refilled_budgets_and_keeps_a_spent_one_that_still_refuses()
    {
        // One request per 100 s after a burst of two, on a clock that moves only when told: nothing refills by itself.
        var clock = new ManualClock();
        await using var server = await TestServer.StartAsync(
            new Dictionary<string, string>
            {
                ["Limits:FramesPerSecond"] = "0.01",
                ["Limits:FrameBurst"] = "2",
                ["Limits:RegistrationsPerMinutePerAddress"] = "0",
            },
            services => services.AddSingleton<TimeProvider>(clock));
        var callers = server.Services.GetRequiredService<ApiCallers>();
        for (var i = 0; i < 20; i++)
        {
            var caller = await server.RegisterAsync($"caller{i}");
            Assert.That((await GetAsync(server.Http, "/api/me", caller)).Status, Is.EqualTo(200));
        }

        var spender = await server.RegisterAsync("spender");
        Assert.That(new[] { (await GetAsync(server.Http, "/api/me", spender)).Status, (await GetAsync(server.Http, "/api/me", spender)).Status, (await GetAsync(server.Http, "/api/me", spender)).Status }, Is.EqualTo(new[] { 200, 200, 429 }));
        Assert.That(callers.ForgetIdle(), Is.Zero, "every budget is spent in part");
        Assert.That(callers.BudgetsKept, Is.EqualTo(21));

        // 150 s: a caller's one token is back (1.5 refilled), the spender's two are not. The sweep (every 60 s at the
        // default Runtime:IdleRoomSeconds) runs on the way.
        clock.Advance(TimeSpan.FromSeconds(150));
        using (var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60)))
        {
            while (callers.BudgetsKept != 1)
            {
                await Task.Delay(20, limit.Token);
            }
        }

        Assert.That(new[] { (await GetAsync(server.Http, "/api/me", spender)).Status, (await GetAsync(server.Http, "/api/me", spender)).Status }, Is.EqualTo(new[] { 200, 429 }), "the spender's kept budget: 1.5 tokens, no fresh burst");
        var again = await server.RegisterAsync("caller_again");
        Assert.That((await GetAsync(server.Http, "/api/me", again)).Status, Is.EqualTo(200));
    }
}
