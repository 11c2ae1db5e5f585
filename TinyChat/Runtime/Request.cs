namespace TinyChat.Runtime;

/// <summary>A mailbox message that carries a reply; the runtime fails it when its handler faults or its process stops.</summary>
public interface IRequest
{
    /// <summary>Completes the reply with an error. Idempotent.</summary>
    void Fail(Exception reason);
}

/// <summary>
/// Hears a reply the moment it is given, on the replying loop's thread, instead of through a continuation scheduled
/// on the thread pool: for a caller with many requests in flight whose answers come in bursts (a pipelining client's
/// posts, acknowledged a room batch at a time). It runs on the replying loop, so it must only queue, never block or throw.
/// </summary>
public interface IReplyListener<in T>
{
    /// <summary>The answer.</summary>
    void OnReply(T value);

    /// <summary>The request failed (the handler faulted, or the process stopped).</summary>
    void OnFailure(Exception reason);
}

/// <summary>
/// The reply slot a request carries: a <see cref="TaskCompletionSource{TResult}"/> the handling loop completes, or,
/// for a reply made with a listener, only the listener (nobody awaits it, so no task is made: one less per post).
/// </summary>
public sealed class Reply<T>
{
    private readonly IReplyListener<T>? listener;

    // RunContinuationsAsynchronously: the replying loop must never run the caller's continuation inline.
    private readonly TaskCompletionSource<T>? source;
    private int settled;

    /// <summary>A reply that is awaited (<see cref="Task"/>), or with <paramref name="listener"/> one that is heard.</summary>
    public Reply(IReplyListener<T>? listener = null)
    {
        this.listener = listener;
        source = listener is null ? new(TaskCreationOptions.RunContinuationsAsynchronously) : null;
    }

    /// <summary>Completes when the process replies, or faults when it cannot. Not for a reply with a listener.</summary>
    public Task<T> Task => source?.Task ?? throw new InvalidOperationException("a reply with a listener is heard, not awaited");

    /// <summary>Answers. Idempotent: the first answer or failure is the one the listener hears.</summary>
    public void Complete(T value)
    {
        if (Interlocked.Exchange(ref settled, 1) == 0)
        {
            source?.SetResult(value);
            listener?.OnReply(value);
        }
    }

    /// <summary>Fails. Idempotent.</summary>
    public void Fail(Exception reason)
    {
        if (Interlocked.Exchange(ref settled, 1) == 0)
        {
            source?.SetException(reason);
            listener?.OnFailure(reason);
        }
    }
}

/// <summary>Raised to a poster whose request could not be served because the process stopped.</summary>
public sealed class ProcessStoppedException(string processName)
    : Exception($"process '{processName}' stopped before it could serve the request");

/// <summary>The fault a killed process's loop ends with.</summary>
public sealed class ProcessKilledException(string processName)
    : Exception($"process '{processName}' was killed");
