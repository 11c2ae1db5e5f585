using Microsoft.Extensions.Logging;
using TinyChat.Chat;

namespace TinyChat.Storage;

/// <summary>
/// Whether a store can take requests. The first request that meets the outage starts it: it is logged once, and one
/// background probe tries the database with a growing pause until it answers, which ends the outage (logged once
/// too). A database that is a server (PostgreSQL, <see cref="StorageOutageKind.Unreachable"/>) then fails every
/// request fast (<see cref="ThrowIfUnavailable"/>) instead of each waiting for a connect timeout; a local file that
/// cannot be written (SQLite, <see cref="StorageOutageKind.Unwritable"/>) keeps serving reads and tries every write
/// (a small one may still fit in the file's free space and commit), and its probe asks whether the file can grow.
/// </summary>
public sealed class StorageAvailability : IStoreHealth, IAsyncDisposable
{
    /// <summary>The pause before the first probe; it doubles after each failed probe up to <see cref="LongestRetry"/>.</summary>
    public static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(200);

    /// <summary>The longest pause between two probes of a database server.</summary>
    public static readonly TimeSpan LongestRetry = TimeSpan.FromSeconds(5);

    /// <summary>
    /// The longest pause between two probes of a local file: a probe is one small local transaction, and posts are
    /// tried during the outage anyway, so this only bounds how long <c>/healthz</c> lags behind the disk.
    /// </summary>
    public static readonly TimeSpan LongestLocalRetry = TimeSpan.FromSeconds(1);

    private readonly string provider;
    private readonly string where;
    private readonly StorageOutageKind kind;
    private readonly Func<CancellationToken, Task> probe;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private readonly CancellationTokenSource stopping = new();
    private readonly Lock gate = new();
    private StoreHealth current;
    private Task recovering = Task.CompletedTask;
    private CancellationTokenSource? outage;
    private long refused;
    private int probes;
    private bool disposed;

    /// <summary>Creates the tracker of an available store.</summary>
    /// <param name="provider">The provider's name, as configured.</param>
    /// <param name="where">Where the database is, safe to log (host, port, database; never credentials).</param>
    /// <param name="probe">Reaches the database once; throws when it cannot.</param>
    /// <param name="time">The clock of the pauses.</param>
    /// <param name="logger">Where the start and the end of an outage are logged.</param>
    /// <param name="kind">What an outage of this store is, which decides its words and whether reads go on.</param>
    public StorageAvailability(string provider, string where, Func<CancellationToken, Task> probe, TimeProvider time, ILogger logger, StorageOutageKind kind = StorageOutageKind.Unreachable)
    {
        this.provider = provider;
        this.where = where;
        this.kind = kind;
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
            throw new StoreUnavailableException(Sentence(now.Problem), cause: DefaultCause);
        }
    }

    /// <summary>
    /// <paramref name="requests"/> requests met the outage (the database unreachable, the file unwritable): starts
    /// the outage if none is on (logging it once and starting the probe), counts them as refused, and returns the
    /// exception they should fail with.
    /// </summary>
    /// <param name="reason">What the requests met.</param>
    /// <param name="requests">How many requests it refused.</param>
    /// <param name="cause">What a client may be told (the kind of trouble, never where the data lives).</param>
    public StoreUnavailableException Lost(Exception reason, int requests = 1, string? cause = null)
    {
        string? problem;
        lock (gate)
        {
            if (current.Available && !stopping.IsCancellationRequested)
            {
                current = new StoreHealth(provider, false, OneLine(reason), time.GetUtcNow());
                refused = 0;
                probes = 0;
                if (kind == StorageOutageKind.Unwritable)
                {
                    logger.LogWarning("Storage {Where} cannot be written: {Reason}; writes (posts, joins, sign-ups) are refused until it can be written again, reads go on", where, current.Problem);
                }
                else
                {
                    logger.LogWarning("Storage {Where} is unreachable: {Reason}; requests are refused until it answers again", where, current.Problem);
                }

                var token = CancellationTokenSource.CreateLinkedTokenSource(stopping.Token);
                outage = token;
                recovering = Task.Run(() => RecoverAsync(token.Token));
            }

            problem = current.Problem ?? OneLine(reason);
        }

        Interlocked.Add(ref refused, requests);
        return new StoreUnavailableException(Sentence(problem), reason, cause ?? DefaultCause);
    }

    /// <summary>Stops probing without waiting for the probe to notice (for a synchronous dispose).</summary>
    public void Stop()
    {
        lock (gate)
        {
            if (!disposed)
            {
                stopping.Cancel();
            }
        }
    }

    /// <summary>Stops probing.</summary>
    public async ValueTask DisposeAsync()
    {
        lock (gate)
        {
            if (disposed)
            {
                return;
            }

            disposed = true;
            stopping.Cancel();
        }

        try
        {
            await Recovering.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        lock (gate)
        {
            outage?.Dispose();
            outage = null;
        }

        stopping.Dispose();
    }

    private async Task RecoverAsync(CancellationToken cancellationToken)
    {
        var pause = FirstRetry;
        var longest = kind == StorageOutageKind.Unwritable ? LongestLocalRetry : LongestRetry;
        while (true)
        {
            try
            {
                await Task.Delay(pause, time, cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref probes);
                await probe(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // Stopping.
                return;
            }
            catch (Exception ex)
            {
                logger.LogDebug("Storage {Where} still unavailable (probe {Attempt}): {Reason}", where, Volatile.Read(ref probes), ex.Message);
                pause = TimeSpan.FromTicks(Math.Min(pause.Ticks * 2, longest.Ticks));
                continue;
            }

            End();
            return;
        }
    }

    private void End()
    {
        StoreHealth ended;
        lock (gate)
        {
            if (current.Available)
            {
                return;
            }

            ended = current;
            current = StoreHealth.AlwaysAvailable(provider);
            outage?.Cancel();
            outage?.Dispose();
            outage = null;
        }

        var lasted = time.GetUtcNow() - (ended.Since ?? time.GetUtcNow());
        if (kind == StorageOutageKind.Unwritable)
        {
            logger.LogInformation(
                "Storage {Where} is writable again after {Seconds:F1} s ({Attempts} probes); {Refused} writes were refused meanwhile",
                where,
                lasted.TotalSeconds,
                Volatile.Read(ref probes),
                Interlocked.Read(ref refused));
        }
        else
        {
            logger.LogInformation(
                "Storage {Where} is reachable again after {Seconds:F1} s ({Attempts} attempts); {Refused} requests were refused meanwhile",
                where,
                lasted.TotalSeconds,
                Volatile.Read(ref probes),
                Interlocked.Read(ref refused));
        }
    }

    private string Sentence(string? problem) => kind == StorageOutageKind.Unwritable
        ? $"{where} cannot be written ({problem ?? "unknown reason"})"
        : $"the database {where} is unreachable ({problem ?? "unknown reason"})";

    private string DefaultCause => kind == StorageOutageKind.Unwritable ? "the data file cannot be written" : "the database is unreachable";

    private static string OneLine(Exception reason)
    {
        var message = reason.Message;
        var end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }
}

/// <summary>What an outage of a store is.</summary>
public enum StorageOutageKind
{
    /// <summary>A database server cannot be reached: every request is refused fast until a probe reaches it.</summary>
    Unreachable,

    /// <summary>A local file cannot be written (disk full, I/O error, read-only): writes are refused, reads go on.</summary>
    Unwritable,
}
