using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;

namespace TinyChat.Web;

/// <summary>
/// How every front door signs a user in: the core's <see cref="ChatServer.AdmitAsync"/> behind a limit on failed
/// attempts per client address (<c>Limits:FailedSignInsPerMinutePerAddress</c>), so tokens cannot be guessed at line
/// rate. An address that presented that many invalid tokens within a minute is refused (<c>too_many_failed_sign_ins</c>) until the
/// minute is over, even with a valid token, without the token being looked at. The window is fixed, starting at the
/// first failure; attempts already in flight when the limit is reached still complete. A missing token is not a
/// guess and does not count. Decided here once: HTTP doors pass the address <see cref="ClientAddresses"/> resolves,
/// IRC the TCP peer.
/// </summary>
public sealed class SignIns(ChatServer chat, IOptions<LimitsOptions> options, TimeProvider time, ILogger<SignIns> logger)
{
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(1);
    private readonly ConcurrentDictionary<IPAddress, Tally> tallies = new();
    private long lastPrune = time.GetTimestamp();

    /// <summary>Addresses with failures in the current window (bounded: expired windows are forgotten).</summary>
    public int TrackedAddresses => tallies.Count;

    /// <summary>
    /// Admits the token's user, or answers why not: the core's errors, or <c>too_many_failed_sign_ins</c> when
    /// <paramref name="address"/> failed too often. A null address (unknown peer) is never limited.
    /// </summary>
    public async Task<Outcome<Admission>> AdmitAsync(IPAddress? address, string? token, CancellationToken cancellationToken)
    {
        var limit = options.Value.FailedSignInsPerMinutePerAddress;
        if (limit <= 0 || address is null)
        {
            return await chat.AdmitAsync(token, cancellationToken).ConfigureAwait(false);
        }

        if (tallies.TryGetValue(address, out var known) && known.Refuses(time, limit, out var firstRefusal))
        {
            if (firstRefusal)
            {
                // Once per address and window: a guesser's flood must not flood the log too.
                logger.LogWarning("Refusing sign-ins from {Address} for the rest of the minute: {Failures} invalid tokens", address, limit);
            }

            return TooManyFailures();
        }

        var admitted = await chat.AdmitAsync(token, cancellationToken).ConfigureAwait(false);
        if (admitted.Error is { Code: "invalid_token" })
        {
            tallies.GetOrAdd(address, _ => new Tally(time.GetTimestamp())).Fail(time);
            PruneNowAndThen();
        }

        return admitted;
    }

    /// <summary>The error code of a refusal for too many failed sign-ins (HTTP 429, <c>Retry-After: 60</c>).</summary>
    public const string Code = "too_many_failed_sign_ins";

    /// <summary>The refusal of an address that failed too often.</summary>
    public static ChatError TooManyFailures() =>
        new(Code, "too many failed sign-ins from your address; try again in a minute");

    private void PruneNowAndThen()
    {
        var now = time.GetTimestamp();
        var last = Interlocked.Read(ref lastPrune);
        if (time.GetElapsedTime(last, now) < Window || Interlocked.CompareExchange(ref lastPrune, now, last) != last)
        {
            return;
        }

        foreach (var (address, tally) in tallies)
        {
            if (tally.Expired(time, now))
            {
                tallies.TryRemove(new KeyValuePair<IPAddress, Tally>(address, tally));
            }
        }
    }

    // One address's failures in its current window, under its own lock (a handful of integers).
    private sealed class Tally(long windowStart)
    {
        private readonly Lock gate = new();
        private long windowStart = windowStart;
        private int failures;
        private bool logged;

        public bool Refuses(TimeProvider time, int limit, out bool firstRefusal)
        {
            lock (gate)
            {
                Roll(time, time.GetTimestamp());
                firstRefusal = failures >= limit && !logged;
                logged |= firstRefusal;
                return failures >= limit;
            }
        }

        public void Fail(TimeProvider time)
        {
            lock (gate)
            {
                Roll(time, time.GetTimestamp());
                failures++;
            }
        }

        public bool Expired(TimeProvider time, long now)
        {
            lock (gate)
            {
                return time.GetElapsedTime(windowStart, now) >= Window;
            }
        }

        private void Roll(TimeProvider time, long now)
        {
            if (time.GetElapsedTime(windowStart, now) >= Window)
            {
                windowStart = now;
                failures = 0;
                logged = false;
            }
        }
    }
}
