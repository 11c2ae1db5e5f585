using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TinyChat.Chat;

namespace TinyChat.Hosting;

/// <summary>
/// Applies what administrators change in the store (the admin command line, another process) to this server's open
/// connections: it polls the store's change record every <see cref="Interval"/> and hands each new change to
/// <see cref="ChatServer.ApplyAsync"/>. Polling the store, rather than being called, works whether the command line
/// runs beside one server on a SQLite file or beside many nodes on one database, and needs no admin endpoint.
/// </summary>
public sealed class AdminChangeWatch(IAdminStore store, ChatServer chat, TimeProvider time, ILogger<AdminChangeWatch> logger) : IHostedService
{
    /// <summary>How often the store is asked; a reset token ends open connections within this (plus one poll).</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(500);

    private const int MaxChangesPerPoll = 100;
    private readonly CancellationTokenSource stopping = new();
    private long? applied;
    private Task? polling;

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        // Changes made before this start concern connections that no longer exist.
        try
        {
            applied = await store.LastChangeAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException)
        {
            // The database is away: the first poll it answers sets the starting point.
        }

        polling = PollAsync(stopping.Token);
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync().ConfigureAwait(false);
        if (polling is not null)
        {
            await polling.ConfigureAwait(false);
        }
    }

    /// <summary>Applies every change recorded since the last one applied; returns how many.</summary>
    public async Task<int> ApplyNewChangesAsync(CancellationToken cancellationToken)
    {
        if (applied is null)
        {
            applied = await store.LastChangeAsync(cancellationToken).ConfigureAwait(false);
            return 0;
        }

        var count = 0;
        IReadOnlyList<AdminChange> changes;
        do
        {
            changes = await store.ChangesAfterAsync(applied.Value, MaxChangesPerPoll, cancellationToken).ConfigureAwait(false);
            foreach (var change in changes)
            {
                logger.LogInformation("Applying administrator change {Change} to {Name}", change.Kind, change.Name);
                await chat.ApplyAsync(change, cancellationToken).ConfigureAwait(false);
                applied = change.Id;
                count++;
            }
        }
        while (changes.Count == MaxChangesPerPoll);

        return count;
    }

    private async Task PollAsync(CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    await ApplyNewChangesAsync(cancellationToken).ConfigureAwait(false);
                }
                catch (StoreUnavailableException)
                {
                    // An outage: the store says so once, and the next tick after it ends asks again from the same place.
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // A busy or briefly unreadable store: the next tick asks again from the same place.
                    logger.LogWarning("Reading administrator changes failed: {Reason}", ex.Message);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
        }
    }
}
