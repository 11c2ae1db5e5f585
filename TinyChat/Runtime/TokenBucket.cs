namespace TinyChat.Runtime;

/// <summary>A token bucket: <c>burst</c> tokens, refilled at <c>perSecond</c>. Thread-safe; never blocks.</summary>
public sealed class TokenBucket
{
    private readonly TimeProvider time;
    private readonly double perSecond;
    private readonly double burst;
    private readonly object gate = new();
    private double tokens;
    private long lastRefill;
    private bool retired;

    /// <summary>A full bucket. A rate of 0 means unlimited.</summary>
    public TokenBucket(double perSecond, double burst, TimeProvider? time = null)
    {
        this.time = time ?? TimeProvider.System;
        this.perSecond = perSecond;
        this.burst = burst;
        tokens = burst;
        lastRefill = this.time.GetTimestamp();
    }

    /// <summary>When the bucket was last touched (for pruning idle buckets).</summary>
    public long LastUsed => Volatile.Read(ref lastRefill);

    /// <summary>Whether the bucket has refilled to its burst: it is then the same as a fresh one.</summary>
    public bool IsFull
    {
        get
        {
            lock (gate)
            {
                return perSecond <= 0 || tokens + (time.GetElapsedTime(lastRefill).TotalSeconds * perSecond) >= burst;
            }
        }
    }

    /// <summary>Whether <see cref="TryRetireIfFull"/> retired the bucket: it gives no more tokens.</summary>
    public bool IsRetired
    {
        get
        {
            lock (gate)
            {
                return retired;
            }
        }
    }

    /// <summary>
    /// Retires the bucket if it has refilled to its burst, so its owner may drop it: a fresh bucket starts full,
    /// and a taker that still holds this one is refused and sees <see cref="IsRetired"/>, so it cannot spend the
    /// same burst twice. False when the bucket still counts something.
    /// </summary>
    public bool TryRetireIfFull()
    {
        lock (gate)
        {
            if (retired || perSecond <= 0 || tokens + (time.GetElapsedTime(lastRefill).TotalSeconds * perSecond) >= burst)
            {
                retired = true;
                return true;
            }

            return false;
        }
    }

    /// <summary>Takes one token; false when the bucket is empty or retired.</summary>
    public bool TryTake()
    {
        if (perSecond <= 0)
        {
            return true;
        }

        lock (gate)
        {
            if (retired)
            {
                return false;
            }

            var now = time.GetTimestamp();
            tokens = Math.Min(burst, tokens + (time.GetElapsedTime(lastRefill, now).TotalSeconds * perSecond));
            lastRefill = now;
            if (tokens < 1)
            {
                return false;
            }

            tokens -= 1;
            return true;
        }
    }
}
