using TinyChat.Runtime;

namespace TinyChat.Tests.Runtime;

/// <summary>A message for the probe process: Echo replies, Crash faults the loop.</summary>
public abstract record ProbeMessage;

/// <summary>Replies with the value and how many times the loop has started.</summary>
public sealed record Echo(int Value) : ProbeMessage, IRequest
{
    public Reply<(int Value, int Starts)> Reply { get; } = new();

    public void Fail(Exception reason) => Reply.Fail(reason);
}

/// <summary>Throws inside the handler.</summary>
public sealed record Crash(string Why) : ProbeMessage, IRequest
{
    public Reply<int> Reply { get; } = new();

    public void Fail(Exception reason) => Reply.Fail(reason);
}

/// <summary>Blocks the loop until released, so tests can queue messages behind it.</summary>
public sealed record Hold(TaskCompletionSource Entered, TaskCompletionSource Release) : ProbeMessage;

/// <summary>Ends the loop normally.</summary>
public sealed record Quit : ProbeMessage;

/// <summary>A process whose behaviour tests drive through messages; counts starts and terminations.</summary>
public sealed class ProbeProcess(string name, int capacity = 16) : Process<ProbeMessage>(name, capacity)
{
    private readonly TaskCompletionSource<Exception?> terminated = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object gate = new();
    private readonly List<(int Count, TaskCompletionSource Signal)> startWaiters = [];
    private int starts;

    public int Starts => Volatile.Read(ref starts);

    /// <summary>Completes once the loop has started <paramref name="count"/> times.</summary>
    public Task WhenStarted(int count)
    {
        lock (gate)
        {
            if (starts >= count)
            {
                return Task.CompletedTask;
            }

            var signal = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            startWaiters.Add((count, signal));
            return signal.Task;
        }
    }

    public Task<Exception?> Ended => terminated.Task;

    protected override ValueTask StartAsync(CancellationToken cancellationToken)
    {
        lock (gate)
        {
            starts++;
            foreach (var waiter in startWaiters.Where(w => w.Count <= starts).ToList())
            {
                waiter.Signal.TrySetResult();
                startWaiters.Remove(waiter);
            }
        }

        return ValueTask.CompletedTask;
    }

    protected override async ValueTask HandleAsync(ProbeMessage message, CancellationToken cancellationToken)
    {
        switch (message)
        {
            case Echo echo:
                echo.Reply.Complete((echo.Value, Starts));
                break;
            case Crash crash:
                throw new InvalidOperationException(crash.Why);
            case Hold hold:
                hold.Entered.TrySetResult();
                await hold.Release.Task.WaitAsync(cancellationToken);
                break;
            case Quit:
                StopAfterPending();
                break;
        }
    }

    protected override void Terminated(Exception? reason) => terminated.TrySetResult(reason);
}

/// <summary>Records supervisor events as awaitable signals.</summary>
public sealed class SupervisionProbe : ISupervisionObserver
{
    private readonly object gate = new();
    private readonly List<string> events = [];
    private readonly TaskCompletionSource<Exception> escalated = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public Task<Exception> Escalation => escalated.Task;

    public IReadOnlyList<string> Events
    {
        get
        {
            lock (gate)
            {
                return [.. events];
            }
        }
    }

    public void ChildRestarted(string supervisor, string child, Exception fault) => Add($"restarted {supervisor}/{child}");

    public void ChildTerminated(string supervisor, string child, Exception? reason) => Add($"terminated {supervisor}/{child}");

    public void Escalated(string supervisor, Exception fault)
    {
        Add($"escalated {supervisor}");
        escalated.TrySetResult(fault);
    }

    private void Add(string entry)
    {
        lock (gate)
        {
            events.Add(entry);
        }
    }
}
