using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Hosting;

/// <summary>
/// What a shutdown does before any front door closes a connection: every room delivers what it was sent and stops
/// accepting posts and actions (<see cref="ChatServer.StopAcceptingAsync"/>). The host runs every
/// <see cref="IHostedLifecycleService.StoppingAsync"/> before any <see cref="IHostedService.StopAsync"/>, so the doors
/// close their connections after outboxes that already hold everything a sender was told is accepted.
/// </summary>
public sealed class ShutdownOrder(ChatServer chat, IOptions<ServerOptions> options, TimeProvider time, ILogger<ShutdownOrder> logger) : IHostedLifecycleService
{
    /// <inheritdoc />
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        // Half the grace at most: a room stuck at the store must leave the doors time to close their connections
        // (what it holds was never acknowledged, so nobody misses it).
        var limit = TimeSpan.FromSeconds(options.Value.ShutdownGraceSeconds / 2);
        using var grace = new CancellationTokenSource(limit, time);
        using var either = CancellationTokenSource.CreateLinkedTokenSource(grace.Token, cancellationToken);
        logger.LogInformation("Rooms stop accepting posts ({Rooms} running) before connections close", chat.Rooms.Running);
        try
        {
            await chat.StopAcceptingAsync(either.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            logger.LogWarning("Rooms did not finish delivering within {Seconds} s; closing connections anyway", limit.TotalSeconds);
        }
    }

    /// <inheritdoc />
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
