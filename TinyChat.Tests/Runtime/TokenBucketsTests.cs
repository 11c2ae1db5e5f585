using TinyChat.Runtime;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Runtime;

[TestFixture]
public sealed class TokenBucketsTests
{
    [Test]
    public void Refilled_buckets_are_forgotten_and_the_table_empties()
    {
        var clock = new ManualClock();
        var buckets = new TokenBuckets<string>(perSecond: 1, burst: 2, clock, StringComparer.Ordinal);
        for (var i = 0; i < 100; i++)
        {
            Assert.That(buckets.TryTake($"user{i}"), Is.True);
        }

        Assert.That(buckets.ForgetFull(), Is.Zero, "every bucket is one token short");
        Assert.That(buckets.Count, Is.EqualTo(100));

        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.That(buckets.ForgetFull(), Is.EqualTo(100));
        Assert.That(buckets.Count, Is.Zero);
    }

    [Test]
    public void A_spent_budget_is_kept_so_forgetting_never_grants_more_than_the_rate()
    {
        var clock = new ManualClock();
        var buckets = new TokenBuckets<string>(perSecond: 1, burst: 2, clock, StringComparer.Ordinal);
        Assert.That(new[] { buckets.TryTake("bot"), buckets.TryTake("bot"), buckets.TryTake("bot") }, Is.EqualTo(new[] { true, true, false }));

        buckets.ForgetFull();
        Assert.That(buckets.TryTake("bot"), Is.False, "still empty: the sweep kept it");

        clock.Advance(TimeSpan.FromSeconds(2));
        Assert.That(buckets.ForgetFull(), Is.EqualTo(1));
        Assert.That(new[] { buckets.TryTake("bot"), buckets.TryTake("bot"), buckets.TryTake("bot") }, Is.EqualTo(new[] { true, true, false }), "a fresh bucket: one burst, no more");
    }

    [Test]
    public void A_taker_holding_a_retired_bucket_is_refused_by_it_and_cannot_spend_its_burst_twice()
    {
        var clock = new ManualClock();
        var bucket = new TokenBucket(1, 2, clock);
        Assert.That(bucket.TryRetireIfFull(), Is.True);

        Assert.That((bucket.TryTake(), bucket.IsRetired), Is.EqualTo((false, true)));

        var spent = new TokenBucket(1, 2, clock);
        spent.TryTake();
        Assert.That((spent.TryRetireIfFull(), spent.IsRetired, spent.TryTake()), Is.EqualTo((false, false, true)), "a bucket still counting is not retired");
    }

    [Test]
    public void An_unlimited_rate_keeps_nothing()
    {
        var buckets = new TokenBuckets<string>(perSecond: 0, burst: 1, new ManualClock(), StringComparer.Ordinal);
        for (var i = 0; i < 10; i++)
        {
            Assert.That(buckets.TryTake("anyone"), Is.True);
        }

        Assert.That(buckets.Count, Is.Zero);
    }
}
