using Microsoft.Extensions.Logging;

namespace TinyChat.Runtime;

/// <summary>Observes a supervisor's decisions; the seam process tests use as a probe.</summary>
public interface ISupervisionObserver
{
    /// <summary>A child's loop faulted and is being run again.</summary>
    void ChildRestarted(string supervisor, string child, Exception fault);

    /// <summary>A child was terminated for good (normal exit, stop directive, or supervisor shutdown).</summary>
    void ChildTerminated(string supervisor, string child, Exception? reason);

    /// <summary>Restart intensity was exceeded; the supervisor fails.</summary>
    void Escalated(string supervisor, Exception fault);
}

/// <summary>Raised by a supervisor whose restart intensity was exceeded.</summary>
public sealed class SupervisorEscalatedException(string supervisor, string child, Exception fault)
    : Exception($"supervisor '{supervisor}' gave up: child '{child}' exceeded the restart intensity; last fault: {fault.Message}", fault);

/// <summary>
/// A one-for-one supervisor with OTP restart intensity. It is itself an <see cref="IProcess"/>, so supervisors nest:
/// when it escalates, its <see cref="RunAsync"/> throws and its parent decides.
/// </summary>
/// <remarks>
/// Static children (added before it runs) are started on every run of the supervisor; dynamic children
/// (<see cref="TryStartChild"/>) are terminated with it and not brought back, like an OTP dynamic supervisor:
/// their owners start them again on demand.
/// </remarks>
public sealed class Supervisor(string name, RestartPolicy policy, ILogger logger, TimeProvider? time = null, ISupervisionObserver? observer = null)
    : IProcess
{
    private readonly object gate = new();
    private readonly List<(IProcess Child, RestartKind Kind)> staticChildren = [];
    private readonly Dictionary<IProcess, Task> running = new(ReferenceEqualityComparer.Instance);
    private readonly TimeProvider time = time ?? TimeProvider.System;
    private CancellationTokenSource? runCancellation;
    private TaskCompletionSource<SupervisorEscalatedException>? escalation;
    private RestartStatistics statistics = new(policy);
    private TaskCompletionSource started = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <inheritdoc />
    public string Name { get; } = name;

    /// <summary>The restart intensity this supervisor enforces.</summary>
    public RestartPolicy Policy { get; } = policy;

    /// <summary>Restart statistics of the current run.</summary>
    public RestartStatistics Statistics
    {
        get
        {
            lock (gate)
            {
                return statistics;
            }
        }
    }

    /// <summary>Completes once a run of this supervisor has begun (and dynamic children can be started).</summary>
    public Task Started
    {
        get
        {
            lock (gate)
            {
                return started.Task;
            }
        }
    }

    /// <summary>Children whose loops are running now.</summary>
    public int RunningChildren
    {
        get
        {
            lock (gate)
            {
                return running.Count;
            }
        }
    }

    /// <summary>Adds a child started on every run of this supervisor. Call before it runs.</summary>
    public void AddChild(IProcess child, RestartKind kind = RestartKind.Permanent)
    {
        lock (gate)
        {
            staticChildren.Add((child, kind));
        }
    }

    /// <summary>Starts a dynamic child now; false when the supervisor is not running (stopped or escalating).</summary>
    public bool TryStartChild(IProcess child, RestartKind kind = RestartKind.Transient)
    {
        lock (gate)
        {
            if (runCancellation is null || runCancellation.IsCancellationRequested || escalation!.Task.IsCompleted)
            {
                return false;
            }

            running[child] = SuperviseAsync(child, kind, runCancellation.Token);
            return true;
        }
    }

    /// <summary>Runs the children until cancelled (normal return) or until restart intensity is exceeded (throws).</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        TaskCompletionSource<SupervisorEscalatedException> escalated;
        CancellationTokenSource cancellation;
        lock (gate)
        {
            cancellation = runCancellation = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            escalated = escalation = new(TaskCreationOptions.RunContinuationsAsynchronously);
            statistics = new RestartStatistics(Policy);
            foreach (var (child, kind) in staticChildren)
            {
                running[child] = SuperviseAsync(child, kind, cancellation.Token);
            }

            started.TrySetResult();
        }

        SupervisorEscalatedException? failure = null;
        try
        {
            failure = await escalated.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Shutdown: fall through and stop the children.
        }

        Task[] stopping;
        lock (gate)
        {
            cancellation.Cancel();
            stopping = [.. running.Values];
        }

        await Task.WhenAll(stopping).ConfigureAwait(false);
        lock (gate)
        {
            started = new(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        cancellation.Dispose();
        if (failure is not null)
        {
            throw failure;
        }
    }

    /// <inheritdoc />
    public void OnTerminated(Exception? reason)
    {
        // A supervisor holds no mailbox: its children were terminated when its run ended.
    }

    private async Task SuperviseAsync(IProcess child, RestartKind kind, CancellationToken cancellationToken)
    {
        // Never run a child's loop on the caller's stack: TryStartChild is called from other loops.
        await Task.Yield();
        Exception? final = null;
        while (true)
        {
            Exception? fault = null;
            try
            {
                await child.RunAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                fault = ex;
            }

            if (cancellationToken.IsCancellationRequested)
            {
                final = fault;
                break;
            }

            SupervisorDirective directive;
            lock (gate)
            {
                directive = SupervisionDecision.Decide(kind, fault, () => statistics.TryRecordRestart(time.GetUtcNow()));
            }

            if (directive == SupervisorDirective.Restart)
            {
                if (fault is not null)
                {
                    logger.LogWarning(fault, "Supervisor {Supervisor} restarts {Child} after a fault", Name, child.Name);
                    observer?.ChildRestarted(Name, child.Name, fault);
                    ChatMetrics.Restarts.Add(1, ChatMetrics.Supervisor(Name));
                }

                continue;
            }

            final = fault;
            if (directive == SupervisorDirective.Escalate)
            {
                var escalated = new SupervisorEscalatedException(Name, child.Name, fault!);
                logger.LogError(fault, "Supervisor {Supervisor} escalates: {Child} exceeded {MaxRestarts} restarts in {Window}", Name, child.Name, Policy.MaxRestarts, Policy.Window);
                observer?.Escalated(Name, fault!);
                ChatMetrics.Escalations.Add(1, ChatMetrics.Supervisor(Name));
                lock (gate)
                {
                    escalation!.TrySetResult(escalated);
                }
            }

            break;
        }

        lock (gate)
        {
            running.Remove(child);
        }

        try
        {
            child.OnTerminated(final);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Child {Child} failed while terminating", child.Name);
        }

        observer?.ChildTerminated(Name, child.Name, final);
    }
}
