using Microsoft.Extensions.Logging;

namespace TinyChat.Storage;

/// <summary>
/// Prunes history in the background, once at start and then every <paramref name="interval"/>: never on a
/// poster's path. Each prune is a series of small writes queued behind the chat's own.
/// </summary>
public sealed class RetentionLoop(IDurableStore store, TimeSpan interval, TimeProvider time, ILogger<RetentionLoop> logger)
{
    /// <summary>Runs until cancelled. A failed prune is logged and tried again at the next tick.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (!store.Retention.IsLimited)
        {
            return;
        }

        using var timer = new PeriodicTimer(interval, time);
        do
        {
            try
            {
                var deleted = await store.PruneAsync(time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
                if (deleted > 0)
                {
                    logger.LogInformation("Retention pruned {Count} messages", deleted);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning("Retention pruning failed: {Reason}", ex.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
    }
}
