using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TinyChat.Runtime;
using TinyChat.Storage;

namespace TinyChat.Hosting;

/// <summary>
/// Opens (and migrates) the store (SQLite or PostgreSQL) before anything else starts, runs retention pruning in the background,
/// and closes the store last, after the HTTP server and the supervisors stopped, so every acknowledged write is in.
/// </summary>
public sealed class StorageService(IDurableStore store, RetentionLoop retention, ILogger<StorageService> logger) : IHostedService
{
    private readonly CancellationTokenSource stopping = new();
    private Task? pruning;

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await store.OpenAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (StorageException ex)
        {
            throw new StartupException(ex.Message);
        }

        pruning = RunRetentionAsync();
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync().ConfigureAwait(false);
        if (pruning is not null)
        {
            await pruning.ConfigureAwait(false);
        }

        await store.CloseAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task RunRetentionAsync()
    {
        try
        {
            await retention.RunAsync(stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested)
        {
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Retention loop stopped: {Reason}", ex.Message);
        }
    }
}
