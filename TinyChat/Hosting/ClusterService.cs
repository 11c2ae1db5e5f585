using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Cluster;

namespace TinyChat.Hosting;

/// <summary>
/// Joins the cluster at start (listens, says hello, asks the other nodes for their presence) and runs the
/// heartbeat; at stop says this node is leaving, so the others drop its users at once, and flushes the bus.
/// </summary>
public sealed class ClusterService(
    PostgresChatBus bus,
    TinyChat.Chat.ClusterPresence presence,
    IOptions<ClusterOptions> options,
    ILogger<ClusterService> logger) : IHostedService
{
    // How long start waits for the LISTEN connection before going on (it keeps trying in the background).
    private static readonly TimeSpan ListenWait = TimeSpan.FromSeconds(10);
    private readonly CancellationTokenSource stopping = new();
    private Task? heartbeat;

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        using (var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
        {
            wait.CancelAfter(ListenWait);
            try
            {
                await bus.WhenListeningAsync(wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                logger.LogWarning("Not listening to the other nodes yet; going on, the bus keeps reconnecting");
            }
        }

        presence.Start();
        heartbeat = presence.RunAsync(stopping.Token);
        logger.LogInformation(
            "Cluster node {Node}: heartbeat every {Heartbeat} s, other nodes dropped after {Timeout} s of silence",
            presence.Node,
            options.Value.HeartbeatSeconds,
            options.Value.NodeTimeoutSeconds);
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync().ConfigureAwait(false);
        if (heartbeat is not null)
        {
            await heartbeat.ConfigureAwait(false);
        }

        presence.Dispose();
        await bus.DisposeAsync().ConfigureAwait(false);
        stopping.Dispose();
    }
}
