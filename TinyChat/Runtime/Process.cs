using System.Threading.Channels;

namespace TinyChat.Runtime;

/// <summary>
/// A process: one loop that owns private state and handles the messages of one bounded mailbox, one at a time.
/// </summary>
/// <remarks>
/// The mailbox belongs to the process object, not to one run of its loop: when the supervisor restarts
/// a faulted loop, messages posted meanwhile wait in the mailbox and are handled by the next incarnation.
/// Only the request whose handler faulted is failed. Subclasses rebuild their state in <see cref="StartAsync"/>
/// from wherever it durably lives (the store, the registry of live sessions), never from the dead loop.
/// </remarks>
public abstract class Process<TMessage> : IProcess
    where TMessage : class
{
    private readonly int capacity;
    private Channel<TMessage> mailbox;
    private CancellationTokenSource? incarnation;

    /// <summary>Creates the process with a mailbox of the given capacity.</summary>
    protected Process(string name, int mailboxCapacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(mailboxCapacity, 1);
        Name = name;
        capacity = mailboxCapacity;
        mailbox = NewMailbox(mailboxCapacity);
    }

    /// <inheritdoc />
    public string Name { get; }

    /// <summary>Posts without waiting. Never blocks; fails fast with <see cref="PostResult.MailboxFull"/>.</summary>
    public PostResult TryPost(TMessage message)
    {
        if (mailbox.Writer.TryWrite(message))
        {
            return PostResult.Accepted;
        }

        return mailbox.Reader.Completion.IsCompleted || IsStopping ? PostResult.Stopped : PostResult.MailboxFull;
    }

    /// <summary>Posts, waiting for room in the mailbox. Preserves order per poster.</summary>
    public async ValueTask<PostResult> PostAsync(TMessage message, CancellationToken cancellationToken)
    {
        try
        {
            await mailbox.Writer.WriteAsync(message, cancellationToken).ConfigureAwait(false);
            return PostResult.Accepted;
        }
        catch (ChannelClosedException)
        {
            return PostResult.Stopped;
        }
    }

    /// <summary>Posts a request and awaits its reply; a stopped process fails it with <see cref="ProcessStoppedException"/>.</summary>
    public async Task<TReply> AskAsync<TReply>(TMessage request, Reply<TReply> reply, CancellationToken cancellationToken)
    {
        if (await PostAsync(request, cancellationToken).ConfigureAwait(false) != PostResult.Accepted)
        {
            throw new ProcessStoppedException(Name);
        }

        return await reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private bool IsStopping { get; set; }

    /// <summary>Faults the running incarnation, as Erlang's <c>exit(Pid, kill)</c>: the in-flight request fails and the supervisor decides.</summary>
    public void Kill() => Volatile.Read(ref incarnation)?.Cancel();

    /// <inheritdoc />
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref mailbox).Reader.Completion.IsCompleted)
        {
            // Terminated earlier (its supervisor gave up) and now run again by a restarted supervisor:
            // like a fresh OTP process, it gets a fresh mailbox; posts to the old one were refused.
            Volatile.Write(ref mailbox, NewMailbox(capacity));
            IsStopping = false;
        }

        using var life = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        Volatile.Write(ref incarnation, life);
        try
        {
            await LoopAsync(life.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (life.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new ProcessKilledException(Name);
        }
        finally
        {
            Interlocked.CompareExchange(ref incarnation, null, life);
        }
    }

    private async Task LoopAsync(CancellationToken cancellationToken)
    {
        await StartAsync(cancellationToken).ConfigureAwait(false);
        var reader = mailbox.Reader;
        while (await reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
        {
            while (reader.TryRead(out var message))
            {
                try
                {
                    await HandleAsync(message, cancellationToken).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    (message as IRequest)?.Fail(ex);
                    throw;
                }
            }
        }
    }

    private static Channel<TMessage> NewMailbox(int capacity) =>
        Channel.CreateBounded<TMessage>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
            AllowSynchronousContinuations = false,
        });

    /// <summary>(Re)builds the loop's state. Runs before the first message of every incarnation.</summary>
    protected virtual ValueTask StartAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <summary>Handles one message. An exception escaping it is a fault: the supervisor decides what follows.</summary>
    protected abstract ValueTask HandleAsync(TMessage message, CancellationToken cancellationToken);

    /// <summary>Takes the next message only if it is a <typeparamref name="T"/>, so a handler can batch a run of them without reordering.</summary>
    protected bool TryTakeNext<T>(out T message)
        where T : TMessage
    {
        if (mailbox.Reader.TryPeek(out var next) && next is T typed && mailbox.Reader.TryRead(out _))
        {
            message = typed;
            return true;
        }

        message = default!;
        return false;
    }

    /// <summary>
    /// Completes when a message is waiting (true) or the mailbox is closed and empty (false), without taking it: a
    /// handler that waits for something else too (a write in progress) can take up new messages as they come.
    /// </summary>
    protected ValueTask<bool> WaitForMailAsync(CancellationToken cancellationToken) => mailbox.Reader.WaitToReadAsync(cancellationToken);

    /// <summary>Messages waiting in the mailbox now (a gauge reads it; never blocks).</summary>
    public int MailboxDepth => mailbox.Reader.Count;

    /// <summary>Ends the loop normally once the messages already in the mailbox are handled; later posts see <see cref="PostResult.Stopped"/>.</summary>
    protected void StopAfterPending()
    {
        IsStopping = true;
        mailbox.Writer.TryComplete();
    }

    /// <inheritdoc />
    public void OnTerminated(Exception? reason)
    {
        IsStopping = true;
        mailbox.Writer.TryComplete();
        while (mailbox.Reader.TryRead(out var orphan))
        {
            (orphan as IRequest)?.Fail(new ProcessStoppedException(Name));
        }

        Terminated(reason);
    }

    /// <summary>Last words of the process (unregister, notify); runs once, after the loop has ended for good.</summary>
    protected virtual void Terminated(Exception? reason)
    {
    }
}
