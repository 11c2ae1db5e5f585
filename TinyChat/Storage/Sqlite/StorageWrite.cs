namespace TinyChat.Storage.Sqlite;

/// <summary>
/// One write request in the <see cref="StorageWriter"/>'s queue. It is applied inside a group transaction and
/// its task completes only after that transaction committed (or fails when it did not).
/// </summary>
internal abstract class StorageWrite(CancellationToken cancellationToken, bool isProbe = false, Task? after = null)
{
    /// <summary>
    /// A request queued earlier that must commit for this one to be applied (a room's previous batch); null when
    /// none. It is either settled or in the same group when the writer reaches this one (queue order).
    /// </summary>
    public Task? After => after;

    /// <summary>Why this request may not be applied: its predecessor was not committed (null while it may).</summary>
    public Exception? Refusal => after is { IsCompleted: true, IsCompletedSuccessfully: false }
        ? after.Exception?.InnerException ?? new OperationCanceledException("the batch before it was given up")
        : null;

    /// <summary>The store's own test of the file during an outage, not a request anyone is refused.</summary>
    public bool IsProbe => isProbe;

    /// <summary>A caller that gave up before the writer reached the request; it is then skipped, never half-applied.</summary>
    public bool IsAbandoned => cancellationToken.IsCancellationRequested;

    /// <summary>Runs the request's statements inside the open transaction; may run again alone if the group is retried.</summary>
    public abstract void Apply(WriteStatements statements);

    /// <summary>The transaction committed: hands the result to the caller.</summary>
    public abstract void Committed();

    /// <summary>The request was not committed.</summary>
    public abstract void Fail(Exception reason);

    /// <summary>The request was skipped because its caller gave up.</summary>
    public abstract void Abandon();
}

/// <summary>A write that produces a <typeparamref name="T"/>.</summary>
internal sealed class StorageWrite<T>(Func<WriteStatements, T> apply, CancellationToken cancellationToken, bool isProbe = false, Task? after = null, bool onWriterThread = false) : StorageWrite(cancellationToken, isProbe, after)
{
    // Asynchronous continuations unless the caller asked to resume on the writer's thread (a room publishing what
    // was just committed, see StorageWriter.QueueAsync): the writer must not run arbitrary callers' code.
    private readonly TaskCompletionSource<T> done = new(onWriterThread ? TaskCreationOptions.None : TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationToken cancellationToken = cancellationToken;
    private T result = default!;

    /// <summary>Completes after the commit.</summary>
    public Task<T> Task => done.Task;

    /// <inheritdoc />
    public override void Apply(WriteStatements statements) => result = apply(statements);

    /// <inheritdoc />
    public override void Committed() => done.TrySetResult(result);

    /// <inheritdoc />
    public override void Fail(Exception reason) => done.TrySetException(reason);

    /// <inheritdoc />
    public override void Abandon() => done.TrySetCanceled(cancellationToken);
}
