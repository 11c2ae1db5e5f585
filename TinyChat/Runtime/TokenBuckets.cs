using System.Collections.Concurrent;

namespace TinyChat.Runtime;

/// <summary>
/// One <see cref="TokenBucket"/> per key (a user, an address), made on first use. A bucket that has refilled is
/// the same as a fresh one, so <see cref="ForgetFull"/> drops it: the table holds only keys that spent tokens
/// lately, however many keys ever came. A rate of 0 means unlimited and keeps nothing. Thread-safe; never blocks.
/// </summary>
public sealed class TokenBuckets<TKey>(double perSecond, double burst, TimeProvider time, IEqualityComparer<TKey>? comparer = null)
    where TKey : notnull
{
    // A taker meets a retired bucket only when a sweep dropped it in between; each retry finds a fresh one, so
    // more than a few in a row cannot happen (sweeps are seconds apart).
    private const int Attempts = 8;
    private readonly ConcurrentDictionary<TKey, TokenBucket> buckets = new(comparer);

    /// <summary>Keys whose bucket is kept now.</summary>
    public int Count => buckets.Count;

    /// <summary>Takes one token from the key's bucket; false when it is empty.</summary>
    public bool TryTake(TKey key)
    {
        if (perSecond <= 0)
        {
            return true;
        }

        for (var attempt = 0; attempt < Attempts; attempt++)
        {
            var bucket = buckets.GetOrAdd(key, _ => new TokenBucket(perSecond, burst, time));
            if (bucket.TryTake())
            {
                return true;
            }

            if (!bucket.IsRetired)
            {
                return false;
            }

            buckets.TryRemove(new KeyValuePair<TKey, TokenBucket>(key, bucket));
        }

        // Only retired buckets met: each was full when retired, so a full bucket would have given this token.
        return true;
    }

    /// <summary>Drops every bucket that has refilled to its burst; returns how many.</summary>
    public int ForgetFull()
    {
        var forgotten = 0;
        foreach (var (key, bucket) in buckets)
        {
            if (bucket.TryRetireIfFull() && buckets.TryRemove(new KeyValuePair<TKey, TokenBucket>(key, bucket)))
            {
                forgotten++;
            }
        }

        return forgotten;
    }
}
