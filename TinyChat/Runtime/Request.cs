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

/// <summary>The reply slot a request carries: a <see cref="TaskCompletionSource{TResult}"/> the handling loop completes.</summary>
public sealed class Reply<T>(IReplyListener<T>? listener = null)
{
    // RunContinuationsAsynchronously: the replying loop must never run the caller's continuation inline.
    private readonly TaskCompletionSource<T> source = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the process replies, or faults when it cannot.</summary>
    public Task<T> Task => source.Task;

    /// <summary>Answers. Idempotent: the first answer or failure is the one the listener hears.</summary>
    public void Complete(T value)
    {
        if (source.TrySetResult(value))
        {
            listener?.OnReply(value);
        }
    }

    /// <summary>Fails. Idempotent.</summary>
    public void Fail(Exception reason)
    {
        if (source.TrySetException(reason) && listener is not null)
        {
            // The listener is told; nobody awaits the task, so its exception is observed here.
            _ = source.Task.Exception;
            listener.OnFailure(reason);
        }
    }
}

/// <summary>Raised to a poster whose request could not be served because the process stopped.</summary>
public sealed class ProcessStoppedException(string processName)
    : Exception($"process '{processName}' stopped before it could serve the request");

/// <summary>The fault a killed process's loop ends with.</summary>
public sealed class ProcessKilledException(string processName)
    : Exception($"process '{processName}' was killed");
