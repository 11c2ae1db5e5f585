using Microsoft.Extensions.Logging;
using TinyChat.Chat;

namespace TinyChat.Storage;

/// <summary>
/// Whether a store whose database is a server (PostgreSQL) can take requests. The first request that cannot reach
/// the database starts an outage: it is logged once, every request then fails fast with a
/// <see cref="StoreUnavailableException"/> (instead of each waiting for a connect timeout), and one background
/// probe tries the database with a growing pause until it answers, which ends the outage (logged once too).
/// </summary>
public sealed class StorageAvailability : IStoreHealth, IAsyncDisposable
{
    /// <summary>The pause before the first probe; it doubles after each failed probe up to <see cref="LongestRetry"/>.</summary>
    public static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest pause between two probes.</summary>
    public static readonly TimeSpan LongestRetry = TimeSpan.FromSeconds(5);

    private readonly string provider;
    private readonly string where;
    private readonly Func<CancellationToken, Task> probe;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private readonly CancellationTokenSource stopping = new();
    private readonly Lock gate = new();
    private StoreHealth current;
    private Task recovering = Task.CompletedTask;
    private long refused;

    /// <summary>Creates the tracker of an available store.</summary>
    /// <param name="provider">The provider's name, as configured.</param>
    /// <param name="where">Where the database is, safe to log (host, port, database; never credentials).</param>
    /// <param name="probe">Reaches the database once; throws when it cannot.</param>
    /// <param name="time">The clock of the pauses.</param>
    /// <param name="logger">Where the start and the end of an outage are logged.</param>
    public StorageAvailability(string provider, string where, Func<CancellationToken, Task> probe, TimeProvider time, ILogger logger)
    {
        this.provider = provider;
        this.where = where;
        this.probe = probe;
        this.time = time;
        this.logger = logger;
        current = StoreHealth.AlwaysAvailable(provider);
    }

    /// <inheritdoc />
    public StoreHealth Current => Volatile.Read(ref current);

    /// <summary>Completes when no probe is running (tests wait for recovery with it).</summary>
    public Task Recovering => Volatile.Read(ref recovering);

    /// <summary>Fails fast while an outage lasts.</summary>
    public void ThrowIfUnavailable()
    {
        var now = Current;
        if (!now.Available)
        {
            Interlocked.Increment(ref refused);
            throw new StoreUnavailableException(Sentence(now.Problem));
        }
    }

    /// <summary>
    /// A request could not reach the database: starts the outage if none is on (logging it once and starting the
    /// probe) and returns the exception the request should fail with.
    /// </summary>
    public StoreUnavailableException Lost(Exception reason)
    {
        string? problem;
        lock (gate)
        {
            if (current.Available && !stopping.IsCancellationRequested)
            {
                current = new StoreHealth(provider, false, OneLine(reason), time.GetUtcNow());
                refused = 0;
                logger.LogWarning("Storage {Where} is unreachable: {Reason}; requests are refused until it answers again", where, current.Problem);
                recovering = Task.Run(() => RecoverAsync(stopping.Token));
            }

            problem = current.Problem ?? OneLine(reason);
        }

        return new StoreUnavailableException(Sentence(problem), reason);
    }

    /// <summary>Stops probing.</summary>
    public async ValueTask DisposeAsync()
    {
        await stopping.CancelAsync().ConfigureAwait(false);
        try
        {
            await Recovering.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        stopping.Dispose();
    }

    private async Task RecoverAsync(CancellationToken cancellationToken)
    {
        var pause = FirstRetry;
        var attempts = 0;
        while (true)
        {
            await Task.Delay(pause, time, cancellationToken).ConfigureAwait(false);
            attempts++;
            try
            {
                await probe(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                logger.LogDebug("Storage {Where} still unreachable (attempt {Attempt}): {Reason}", where, attempts, ex.Message);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, LongestRetry.Ticks));
                continue;
            }

            StoreHealth ended;
            lock (gate)
            {
                ended = current;
                current = StoreHealth.AlwaysAvailable(provider);
            }

            var lasted = time.GetUtcNow() - (ended.Since ?? time.GetUtcNow());
            logger.LogInformation(
                "Storage {Where} is reachable again after {Seconds:F1} s ({Attempts} attempts); {Refused} requests were refused meanwhile",
                where,
                lasted.TotalSeconds,
                attempts,
                Interlocked.Read(ref refused));
            return;
        }
    }

    private string Sentence(string? problem) => $"the database {where} is unreachable ({problem ?? "unknown reason"})";

    private static string OneLine(Exception reason)
    {
        var message = reason.Message;
        var end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }
}
