using System.Threading.Channels;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using TinyChat.Runtime;

namespace TinyChat.Storage.Sqlite;

/// <summary>
/// The only writer of the database: one loop that owns the write connection and commits every request that
/// queued up while the previous transaction was committing as ONE transaction (group commit), then completes
/// all their tasks. Under load a commit (and its fsync) is shared by everything that arrived meanwhile.
/// </summary>
/// <remarks>
/// A request that fails inside a group must not fail its neighbours: the group is rolled back and each request
/// is retried in a transaction of its own. That path is for bugs and constraint violations, never the hot path.
/// A failure of the file itself (disk full, I/O error: <see cref="SqliteFaults"/>) would fail every request alike,
/// so the whole group fails at once with a <see cref="Chat.StoreUnavailableException"/> and the store's
/// <see cref="StorageAvailability"/> logs the outage once; its probe ends it when the file can grow again.
/// <para>
/// The loop runs on a thread of its own, asleep on an event that every queued write sets: it blocks through each
/// commit's fsync by design, and on a pool worker it would both hold that worker and wait behind everything in the
/// pool's shared queue for each wake-up (measured at 7-9 ms at the median under load, more than the commit).
/// </para>
/// </remarks>
internal sealed class StorageWriter
{
    /// <summary>Requests waiting for the writer; posters wait when it is full (back-pressure, not unbounded memory).</summary>
    public const int QueueCapacity = 4096;

    // Keeps one transaction (and the latency of its first request) bounded when the queue is deep.
    private const int MaxGroup = 1024;

    private readonly Channel<StorageWrite> queue = Channel.CreateBounded<StorageWrite>(new BoundedChannelOptions(QueueCapacity)
    {
        SingleReader = true,
        SingleWriter = false,
        FullMode = BoundedChannelFullMode.Wait,
        AllowSynchronousContinuations = false,
    });

    private readonly SqliteConnection connection;
    private readonly WriteStatements statements;
    private readonly ILogger logger;
    private readonly StorageAvailability availability;
    private readonly CancellationTokenSource abort = new();

    // Set by every queued write and by Complete; the loop resets it before it looks at the queue, so a write queued
    // after the look leaves it set and the wait returns at once.
    private readonly ManualResetEventSlim queued = new(initialState: false);
    private readonly TaskCompletionSource ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long transactions;

    /// <summary>Takes ownership of <paramref name="connection"/> (closed when the loop ends) and starts the loop.</summary>
    public StorageWriter(SqliteConnection connection, ILogger logger, StorageAvailability availability)
    {
        this.connection = connection;
        this.logger = logger;
        this.availability = availability;
        statements = new WriteStatements(connection);
        var thread = new Thread(() => Run(abort.Token)) { IsBackground = true, Name = "tinychat-store-writer" };
        thread.Start();
    }

    /// <summary>Transactions committed so far (tests compare it with the number of writes to see grouping).</summary>
    public long Transactions => Interlocked.Read(ref transactions);

    /// <summary>Completes when the loop has ended and the connection is closed.</summary>
    public Task Completion => ended.Task;

    /// <summary>Queues a write and returns its result once it is committed.</summary>
    /// <remarks>
    /// Once queued, a write is not abandoned half-way: cancellation only skips it if the writer has not reached it
    /// yet, so when this returns or throws, the write has either committed or never will.
    /// </remarks>
    public async Task<T> WriteAsync<T>(Func<WriteStatements, T> apply, CancellationToken cancellationToken, bool isProbe = false)
    {
        var write = new StorageWrite<T>(apply, cancellationToken, isProbe);
        await EnqueueAsync(write, cancellationToken).ConfigureAwait(false);
        return await write.Task.ConfigureAwait(false);
    }

    /// <summary>
    /// Queues a write that may be applied only once <paramref name="after"/> (a write queued earlier through this
    /// writer) has committed, and returns its task as soon as it is queued; if <paramref name="after"/> fails, the
    /// write is never applied and fails the same way.
    /// </summary>
    /// <remarks>
    /// With <paramref name="onWriterThread"/>, whoever awaits the returned task resumes on the writer's own thread right
    /// after the commit instead of waiting for a pool worker behind everything queued there. That caller must do only
    /// short, non-blocking work there and then leave the thread (a room hands a committed batch to its members'
    /// outboxes and yields): the writer's next commit waits for it.
    /// </remarks>
    public async Task<Task<T>> QueueAsync<T>(Func<WriteStatements, T> apply, Task? after, CancellationToken cancellationToken, bool onWriterThread = false)
    {
        var write = new StorageWrite<T>(apply, cancellationToken, after: after, onWriterThread: onWriterThread);
        await EnqueueAsync(write, cancellationToken).ConfigureAwait(false);
        return write.Task;
    }

    private async ValueTask EnqueueAsync(StorageWrite write, CancellationToken cancellationToken)
    {
        if (!queue.Writer.TryWrite(write))
        {
            try
            {
                await queue.Writer.WriteAsync(write, cancellationToken).ConfigureAwait(false);
            }
            catch (ChannelClosedException)
            {
                throw new ObjectDisposedException(nameof(StorageWriter), "the store is closed");
            }
        }

        // After the write is in the queue: the loop resets before it looks, so it either sees the write or wakes.
        queued.Set();
    }

    /// <summary>Stops taking requests; the loop commits what is queued, then closes the connection.</summary>
    public void Complete()
    {
        queue.Writer.TryComplete();
        queued.Set();
    }

    /// <summary>Drains and closes; if <paramref name="cancellationToken"/> fires first, fails what is still queued.</summary>
    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        Complete();
        try
        {
            await Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            await abort.CancelAsync().ConfigureAwait(false);
            await Completion.ConfigureAwait(false);
        }
    }

    // The thread's body: whatever ends the loop ends up in Completion, never as an unhandled exception on the thread.
    private void Run(CancellationToken cancellationToken)
    {
        try
        {
            Loop(cancellationToken);
            ended.TrySetResult();
        }
        catch (Exception ex)
        {
            ended.TrySetException(ex);
        }
    }

    private void Loop(CancellationToken cancellationToken)
    {
        var reader = queue.Reader;
        var group = new List<StorageWrite>(MaxGroup);
        var probes = new List<StorageWrite>();
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();

                // Before the look, never after: a write queued between the look and a later reset would be missed.
                queued.Reset();
                group.Clear();
                probes.Clear();
                while (group.Count < MaxGroup && reader.TryRead(out var write))
                {
                    if (write.IsAbandoned)
                    {
                        write.Abandon();
                    }
                    else if (write.Refusal is { } refusal)
                    {
                        // Its predecessor failed in an earlier group: applying it would store a batch out of order.
                        write.Fail(refusal);
                    }
                    else if (write.IsProbe)
                    {
                        // Alone: a probe that meets the outage fails its whole group, and the request that ends the
                        // outage (or one that never met it) must not fail with it.
                        probes.Add(write);
                    }
                    else
                    {
                        group.Add(write);
                    }
                }

                if (group.Count > 0)
                {
                    CommitGroup(group);
                }

                foreach (var probe in probes)
                {
                    CommitGroup([probe]);
                }

                if (group.Count > 0 || probes.Count > 0)
                {
                    // Look again before sleeping: the group may have stopped at MaxGroup, and writes queued before
                    // this round's reset set nothing the wait would see.
                    continue;
                }

                if (reader.Completion.IsCompleted)
                {
                    // Completed and drained.
                    break;
                }

                queued.Wait(cancellationToken);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            logger.LogWarning("Storage writer aborted with {Pending} writes queued", reader.Count);
        }
        finally
        {
            // Whatever ended the loop, later writes must fail fast instead of waiting for a reader that is gone.
            queue.Writer.TryComplete();
            var closed = new ObjectDisposedException(nameof(StorageWriter), "the store closed before the write was committed");
            while (reader.TryRead(out var left))
            {
                left.Fail(closed);
            }

            statements.Dispose();
            connection.Dispose();
        }
    }

    private void CommitGroup(List<StorageWrite> group)
    {
        try
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            statements.Begin();
            foreach (var write in group)
            {
                write.Apply(statements);
            }

            statements.Commit();
            Interlocked.Increment(ref transactions);
            ChatMetrics.CommitDuration.Record(System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalSeconds);
            ChatMetrics.CommitBatchSize.Record(group.Count);
        }
        catch (Exception ex) when (SqliteFaults.IsOutage(ex))
        {
            FailAll(group, ex);
            return;
        }
        catch (Exception ex)
        {
            RollBack(ex);
            if (group.Count == 1)
            {
                group[0].Fail(ex);
                return;
            }

            foreach (var write in group)
            {
                CommitAlone(write);
            }

            return;
        }

        foreach (var write in group)
        {
            write.Committed();
        }
    }

    // The file refused the transaction: every request of it would meet the same, so none is retried alone (a
    // thousand failing transactions, a thousand log lines); they fail together and the outage is logged once.
    private void FailAll(List<StorageWrite> group, Exception reason)
    {
        try
        {
            statements.Rollback();
        }
        catch (SqliteException ex)
        {
            logger.LogDebug("Rollback after a refused write failed too: {Reason}", ex.Message);
        }

        var refused = availability.Lost(reason, group.Count(w => !w.IsProbe), SqliteFaults.Cause(reason));
        foreach (var write in group)
        {
            write.Fail(refused);
        }
    }

    private void CommitAlone(StorageWrite write)
    {
        if (write.Refusal is { } refusal)
        {
            // Its predecessor was in the same group and failed alone just before.
            write.Fail(refusal);
            return;
        }

        try
        {
            statements.Begin();
            write.Apply(statements);
            statements.Commit();
            Interlocked.Increment(ref transactions);
        }
        catch (Exception ex) when (SqliteFaults.IsOutage(ex))
        {
            FailAll([write], ex);
            return;
        }
        catch (Exception ex)
        {
            RollBack(ex);
            write.Fail(ex);
            return;
        }

        write.Committed();
    }

    private void RollBack(Exception reason)
    {
        logger.LogWarning("Storage write failed and was rolled back: {Reason}", reason.Message);
        try
        {
            statements.Rollback();
        }
        catch (SqliteException ex)
        {
            // SQLite may already have rolled back by itself (for example on an I/O error); nothing is left open.
            logger.LogWarning("Rollback after a failed write failed too: {Reason}", ex.Message);
        }
    }
}
