using TinyChat.Web;

namespace TinyChat.Protocols.Phoenix;

/// <summary>
/// The send side of a long-poll session: frames wait here (bounded) until the client's next poll takes them.
/// The outbox's writer loop is the only writer; polls are the only reader. A full buffer makes the writer wait,
/// which is how a client that stops polling becomes a slow reader of its outbox.
/// </summary>
public sealed class LongPollTransport(int capacity, TimeProvider time) : ITransport
{
    private readonly object gate = new();
    private readonly Queue<byte[]> frames = new();
    private TaskCompletionSource changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool closed;

    /// <summary>Whether the session's send side has ended (closed or aborted): polls get nothing more.</summary>
    public bool IsClosed
    {
        get
        {
            lock (gate)
            {
                return closed;
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        while (true)
        {
            Task wait;
            lock (gate)
            {
                if (closed)
                {
                    throw new IOException("the long-poll session has ended");
                }

                if (frames.Count < capacity)
                {
                    frames.Enqueue(frame.ToArray());
                    Signal();
                    return;
                }

                wait = changed.Task;
            }

            await wait.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public async ValueTask WriteManyAsync(IReadOnlyList<ReadOnlyMemory<byte>> frames, CancellationToken cancellationToken)
    {
        for (var i = 0; i < frames.Count; i++)
        {
            await WriteAsync(frames[i], cancellationToken).ConfigureAwait(false);
        }
    }

    /// <inheritdoc />
    public ValueTask CloseAsync(int code, string reason, CancellationToken cancellationToken)
    {
        // Long polling has no goodbye frame: the next poll learns the session is gone (410) and phoenix.js reconnects.
        Abort();
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public void Abort()
    {
        lock (gate)
        {
            closed = true;
            Signal();
        }
    }

    /// <summary>
    /// Takes every frame waiting, waiting up to <paramref name="window"/> for the first one. Empty when none came
    /// in time; null when the session has ended and nothing is left.
    /// </summary>
    public async Task<IReadOnlyList<byte[]>?> TakeAsync(TimeSpan window, CancellationToken cancellationToken)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var expired = Task.Delay(window, time, stop.Token);
        try
        {
            return await TakeUntilAsync(expired).ConfigureAwait(false);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }
    }

    private async Task<IReadOnlyList<byte[]>?> TakeUntilAsync(Task expired)
    {
        while (true)
        {
            Task wait;
            lock (gate)
            {
                if (frames.Count > 0)
                {
                    var taken = frames.ToArray();
                    frames.Clear();
                    Signal();
                    return taken;
                }

                if (closed)
                {
                    return null;
                }

                wait = changed.Task;
            }

            if (await Task.WhenAny(wait, expired).ConfigureAwait(false) == expired)
            {
                return [];
            }
        }
    }

    private void Signal()
    {
        var woken = changed;
        changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        woken.TrySetResult();
    }
}
