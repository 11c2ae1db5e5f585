using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Runtime;

namespace TinyChat.Hosting;

/// <summary>
/// The root of the supervision tree: a root supervisor over the room and session supervisors. If the root
/// escalates, the host logs it at Critical and stops with exit code 70.
/// </summary>
public sealed class SupervisionTree : IHostedService
{
    /// <summary>Exit code of a server whose supervision tree gave up.</summary>
    public const int EscalatedExitCode = 70;

    private readonly Supervisor root;
    private readonly IHostApplicationLifetime lifetime;
    private readonly ILogger<SupervisionTree> logger;
    private readonly CancellationTokenSource stopping = new();
    private Task? running;

    /// <summary>Builds the tree from the restart policy in <see cref="RuntimeOptions"/>.</summary>
    public SupervisionTree(IOptions<RuntimeOptions> options, IHostApplicationLifetime lifetime, ILoggerFactory loggers, TimeProvider time, ISupervisionObserver? observer = null)
    {
        this.lifetime = lifetime;
        logger = loggers.CreateLogger<SupervisionTree>();
        var policy = new RestartPolicy(options.Value.MaxRestarts, TimeSpan.FromSeconds(options.Value.RestartWindowSeconds));
        var supervisorLogger = loggers.CreateLogger<Supervisor>();
        root = new Supervisor("root", policy, supervisorLogger, time, observer);
        Rooms = new Supervisor("rooms", policy, supervisorLogger, time, observer);
        Sessions = new Supervisor("sessions", policy, supervisorLogger, time, observer);
        root.AddChild(Rooms, RestartKind.Permanent);
        root.AddChild(Sessions, RestartKind.Permanent);
    }

    /// <summary>Supervises room processes.</summary>
    public Supervisor Rooms { get; }

    /// <summary>Supervises user session processes.</summary>
    public Supervisor Sessions { get; }

    /// <summary>Why the tree gave up, if it did.</summary>
    public Exception? Failure { get; private set; }

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        running = RunAsync();

        // Dynamic children can only be started once their supervisors run.
        await Task.WhenAll(Rooms.Started, Sessions.Started).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync().ConfigureAwait(false);
        if (running is not null)
        {
            await running.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task RunAsync()
    {
        try
        {
            await root.RunAsync(stopping.Token).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Failure = ex;
            logger.LogCritical(ex, "Supervision tree failed: {Reason}", ex.Message);
            Environment.ExitCode = EscalatedExitCode;
            lifetime.StopApplication();
        }
    }
}
