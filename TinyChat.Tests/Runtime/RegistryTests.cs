using TinyChat.Runtime;

namespace TinyChat.Tests.Runtime;

public sealed class RegistryTests
{
    [Test]
    public void A_name_is_unique_until_released_by_its_owner()
    {
        var registry = new Registry<string, object>();
        var first = new object();
        var second = new object();
        Assert.That(registry.TryRegister("room", first), Is.True);
        Assert.That(registry.TryRegister("room", second), Is.False);
        Assert.That(registry.Unregister("room", second), Is.False, "only the owner releases a name");
        Assert.That(registry.Unregister("room", first), Is.True);
        Assert.That(registry.TryRegister("room", second), Is.True);
    }

    [Test]
    public async Task Concurrent_GetOrRegister_creates_exactly_one_winner_per_name()
    {
        var registry = new Registry<string, object>();
        var winners = 0;
        var results = await Task.WhenAll(Enumerable.Range(0, 64).Select(_ => Task.Run(() =>
        {
            var process = registry.GetOrRegister("alice", _ => new object(), out var created);
            if (created)
            {
                Interlocked.Increment(ref winners);
            }

            return process;
        })));
        Assert.That(winners, Is.EqualTo(1));
        Assert.That(results.Distinct().Count(), Is.EqualTo(1));
        Assert.That(registry.Count, Is.EqualTo(1));
    }
}
