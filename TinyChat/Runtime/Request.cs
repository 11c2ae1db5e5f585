namespace TinyChat.Runtime;

/// <summary>A mailbox message that carries a reply; the runtime fails it when its handler faults or its process stops.</summary>
public interface IRequest
{
    /// <summary>Completes the reply with an error. Idempotent.</summary>
    void Fail(Exception reason);
}

/// <summary>The reply slot a request carries: a <see cref="TaskCompletionSource{TResult}"/> the handling loop completes.</summary>
public sealed class Reply<T>
{
    // RunContinuationsAsynchronously: the replying loop must never run the caller's continuation inline.
    private readonly TaskCompletionSource<T> source = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes when the process replies, or faults when it cannot.</summary>
    public Task<T> Task => source.Task;

    /// <summary>Answers. Idempotent.</summary>
    public void Complete(T value) => source.TrySetResult(value);

    /// <summary>Fails. Idempotent.</summary>
    public void Fail(Exception reason) => source.TrySetException(reason);
}

/// <summary>Raised to a poster whose request could not be served because the process stopped.</summary>
public sealed class ProcessStoppedException(string processName)
    : Exception($"process '{processName}' stopped before it could serve the request");

/// <summary>The fault a killed process's loop ends with.</summary>
public sealed class ProcessKilledException(string processName)
    : Exception($"process '{processName}' was killed");
