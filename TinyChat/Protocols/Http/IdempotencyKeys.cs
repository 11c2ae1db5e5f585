namespace TinyChat.Protocols.Http;

/// <summary>
/// The answers to message POSTs sent with an <c>Idempotency-Key</c>, per user: a retry with the same key gets the
/// first answer and posts nothing. Kept for <see cref="Keep"/> (24 h) in memory, at most <see cref="MaxPerUser"/>
/// per user (the oldest goes first beyond that), so memory is bounded by users × keys × answer size; not kept
/// across a restart. Transient failures (429, 5xx) are not kept: their retry runs again.
/// </summary>
public sealed class IdempotencyKeys(TimeProvider time, int maxPerUser = IdempotencyKeys.DefaultMaxPerUser)
{
    /// <summary>Keys per user kept by default (a bot posting every 10 s for a day needs 8,640).</summary>
    public const int DefaultMaxPerUser = 10_000;

    /// <summary>Longest key accepted.</summary>
    public const int MaxKeyLength = 255;

    /// <summary>How long an answer is kept.</summary>
    public static readonly TimeSpan Keep = TimeSpan.FromHours(24);

    private readonly Dictionary<string, UserKeys> users = new(StringComparer.Ordinal);

    /// <summary>Keys kept per user at most.</summary>
    public int MaxPerUser { get; } = maxPerUser;

    /// <summary>
    /// Runs <paramref name="post"/> once per (user, key): a repeat (even concurrent) awaits and returns the first
    /// answer, marked replayed. A key reused for a different request (<paramref name="fingerprint"/>) is refused.
    /// </summary>
    public async Task<(ApiResponse Response, bool Replayed)> RunOnceAsync(string user, string key, string fingerprint, Func<Task<ApiResponse>> post)
    {
        Entry? existing;
        var mine = new Entry(fingerprint, time.GetUtcNow());
        lock (users)
        {
            if (!users.TryGetValue(user, out var keys))
            {
                keys = new UserKeys();
                users[user] = keys;
            }

            keys.Prune(mine.At - Keep);
            if (keys.ByKey.TryGetValue(key, out existing))
            {
                // Found: answered below, outside the lock.
            }
            else
            {
                // Counting the queue, not the live keys, bounds the queue too (forgotten entries wait in it).
                while (keys.Order.Count >= MaxPerUser && keys.Order.TryDequeue(out var oldest))
                {
                    if (ReferenceEquals(keys.ByKey.GetValueOrDefault(oldest.Key), oldest.Entry))
                    {
                        keys.ByKey.Remove(oldest.Key);
                    }
                }

                keys.ByKey[key] = mine;
                keys.Order.Enqueue((key, mine));
            }
        }

        if (existing is not null)
        {
            return existing.Fingerprint == fingerprint
                ? (await existing.Answer.Task.ConfigureAwait(false), true)
                : (ApiResponse.Error(422, "idempotency_key_reused", "this Idempotency-Key was used for a different request"), false);
        }

        try
        {
            var response = await post().ConfigureAwait(false);
            if (response.IsTransient)
            {
                Forget(user, key, mine);
            }

            mine.Answer.SetResult(response);
            return (response, false);
        }
        catch (Exception ex)
        {
            Forget(user, key, mine);
            mine.Answer.SetException(ex);
            throw;
        }
    }

    /// <summary>Keys kept for <paramref name="user"/> now (tests, statistics).</summary>
    public int CountOf(string user)
    {
        lock (users)
        {
            return users.TryGetValue(user, out var keys) ? keys.ByKey.Count : 0;
        }
    }

    /// <summary>Whether <paramref name="key"/> is acceptable as an idempotency key.</summary>
    public static bool IsValidKey(string key) => key.Length is > 0 and <= MaxKeyLength && key.All(c => c is >= '!' and <= '~');

    private void Forget(string user, string key, Entry entry)
    {
        lock (users)
        {
            if (users.TryGetValue(user, out var keys) && keys.ByKey.TryGetValue(key, out var kept) && ReferenceEquals(kept, entry))
            {
                keys.ByKey.Remove(key);
            }
        }
    }

    private sealed class Entry(string fingerprint, DateTimeOffset at)
    {
        public string Fingerprint { get; } = fingerprint;

        public DateTimeOffset At { get; } = at;

        public TaskCompletionSource<ApiResponse> Answer { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class UserKeys
    {
        public Dictionary<string, Entry> ByKey { get; } = new(StringComparer.Ordinal);

        // Insertion order; entries forgotten early stay here until they reach the front, and are skipped then.
        public Queue<(string Key, Entry Entry)> Order { get; } = new();

        public void Prune(DateTimeOffset expiredBefore)
        {
            while (Order.TryPeek(out var oldest) && (oldest.Entry.At < expiredBefore || !ReferenceEquals(ByKey.GetValueOrDefault(oldest.Key), oldest.Entry)))
            {
                Order.Dequeue();
                if (ReferenceEquals(ByKey.GetValueOrDefault(oldest.Key), oldest.Entry))
                {
                    ByKey.Remove(oldest.Key);
                }
            }
        }
    }
}
