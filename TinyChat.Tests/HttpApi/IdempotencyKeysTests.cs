using TinyChat.Protocols.Http;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.HttpApi;

[TestFixture]
public sealed class IdempotencyKeysTests
{
    private static Func<Task<ApiResponse>> Counting(Action onRun, int status = 201) => () =>
    {
        onRun();
        return Task.FromResult(ApiResponse.Error(status, "x", "x"));
    };

    [Test]
    public async Task An_answer_is_kept_for_24_hours_and_then_forgotten()
    {
        var clock = new ManualClock();
        var keys = new IdempotencyKeys(clock);
        var runs = 0;
        await keys.RunOnceAsync("bot", "k", "post", Counting(() => runs++));
        clock.Advance(TimeSpan.FromHours(23.9));
        var (_, replayed) = await keys.RunOnceAsync("bot", "k", "post", Counting(() => runs++));
        Assert.That((runs, replayed), Is.EqualTo((1, true)));

        clock.Advance(TimeSpan.FromHours(0.2));
        await keys.RunOnceAsync("bot", "k", "post", Counting(() => runs++));
        Assert.That(runs, Is.EqualTo(2), "after 24 h the key is new again");
    }

    [Test]
    public async Task Each_user_keeps_at_most_the_bound_and_the_oldest_go_first()
    {
        var keys = new IdempotencyKeys(new ManualClock(), maxPerUser: 3);
        var runs = 0;
        foreach (var key in new[] { "a", "b", "c", "d" })
        {
            await keys.RunOnceAsync("bot", key, "post", Counting(() => runs++));
        }

        Assert.That(keys.CountOf("bot"), Is.EqualTo(3));
        await keys.RunOnceAsync("bot", "d", "post", Counting(() => runs++));
        Assert.That(runs, Is.EqualTo(4), "a kept key is answered from memory");
        await keys.RunOnceAsync("bot", "a", "post", Counting(() => runs++));
        Assert.That(runs, Is.EqualTo(5), "the oldest key was dropped to stay within the bound");
        await keys.RunOnceAsync("other", "a", "post", Counting(() => runs++));
        Assert.That(runs, Is.EqualTo(6), "keys are per user");
    }

    [Test]
    public async Task Transient_failures_are_not_kept()
    {
        var keys = new IdempotencyKeys(new ManualClock());
        var runs = 0;
        await keys.RunOnceAsync("bot", "k", "post", Counting(() => runs++, status: 429));
        var (response, replayed) = await keys.RunOnceAsync("bot", "k", "post", Counting(() => runs++));
        Assert.That((runs, replayed, response.Status), Is.EqualTo((2, false, 201)));
    }
}
