namespace TinyChat.Chat;

/// <summary>
/// The store cannot be reached right now (its database server is down or unreachable). The request was not
/// confirmed: the core answers <c>unavailable</c>, never an acknowledgement, and keeps the connection; retrying
/// later is safe. The message says what is unreachable, never how to log in to it.
/// </summary>
/// <param name="message">For the log: what is unavailable and why.</param>
/// <param name="inner">What the store met.</param>
/// <param name="cause">For clients: the kind of trouble (the disk is full, the database is unreachable), never where the data lives.</param>
public sealed class StoreUnavailableException(string message, Exception? inner = null, string? cause = null) : Exception(message, inner)
{
    /// <summary>What a client may be told about the trouble; null when unknown.</summary>
    public string? Cause { get; } = cause;

    // The store itself probes the database with backoff; a loop only polls the store's (cheap) verdict.
    private static readonly TimeSpan RetryPause = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// Runs <paramref name="read"/> until the store answers. For a loop's start: a loop cannot serve anyone
    /// without its state, and must not spend its supervisor's restart budget on an outage (which would escalate
    /// and stop the node). Any other failure propagates.
    /// </summary>
    public static async ValueTask<T> WaitOutAsync<T>(Func<CancellationToken, ValueTask<T>> read, TimeProvider time, CancellationToken cancellationToken)
    {
        while (true)
        {
            try
            {
                return await read(cancellationToken).ConfigureAwait(false);
            }
            catch (StoreUnavailableException)
            {
                await Task.Delay(RetryPause, time, cancellationToken).ConfigureAwait(false);
            }
        }
    }
}
