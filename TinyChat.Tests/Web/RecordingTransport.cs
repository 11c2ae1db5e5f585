using System.Text;
using System.Threading.Channels;
using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Tests.Web;

/// <summary>A transport that records each write (as the text of its frames) and, when held, completes writes only on demand.</summary>
public sealed class RecordingTransport(bool holdWrites = false) : ITransport
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly Channel<IReadOnlyList<string>> started = Channel.CreateUnbounded<IReadOnlyList<string>>();
    private readonly TaskCompletionSource closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource aborted = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<IReadOnlyList<string>> writes = [];
    private readonly Lock gate = new();
    private TaskCompletionSource? pending;
    private int abortCount;

    /// <summary>Every write so far, one entry per call; each lists the frames it carried.</summary>
    public IReadOnlyList<IReadOnlyList<string>> Writes
    {
        get
        {
            lock (gate)
            {
                return [.. writes];
            }
        }
    }

    /// <summary>Every frame written so far, in order.</summary>
    public IReadOnlyList<string> Frames => [.. Writes.SelectMany(w => w)];

    /// <summary>Which calls were write-many (true) or write-one (false), in order.</summary>
    public List<bool> Many { get; } = [];

    /// <summary>The goodbye the outbox sent, once it did.</summary>
    public (int Code, string Reason)? Goodbye { get; private set; }

    /// <summary>Completes when the outbox said goodbye or aborted: the peer's side of the connection then ends.</summary>
    public Task Ended => Task.WhenAny(closed.Task, aborted.Task);

    public Task Aborted => aborted.Task;

    public int AbortCount => Volatile.Read(ref abortCount);

    public ValueTask WriteAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken) =>
        Record([Encoding.UTF8.GetString(frame.Span)], many: false);

    public ValueTask WriteManyAsync(IReadOnlyList<ReadOnlyMemory<byte>> frames, CancellationToken cancellationToken) =>
        Record([.. frames.Select(f => Encoding.UTF8.GetString(f.Span))], many: true);

    public ValueTask CloseAsync(int code, string reason, CancellationToken cancellationToken)
    {
        Goodbye = (code, reason);
        closed.TrySetResult();
        return ValueTask.CompletedTask;
    }

    public void Abort()
    {
        Interlocked.Increment(ref abortCount);
        lock (gate)
        {
            pending?.TrySetException(new IOException("aborted"));
        }

        aborted.TrySetResult();
    }

    /// <summary>The frames of the next write the outbox starts (it may still be held).</summary>
    public async Task<IReadOnlyList<string>> NextWriteAsync()
    {
        using var timeout = new CancellationTokenSource(Patience);
        return await started.Reader.ReadAsync(timeout.Token);
    }

    /// <summary>Lets the held write finish.</summary>
    public void Release()
    {
        lock (gate)
        {
            pending!.TrySetResult();
        }
    }

    private ValueTask Record(IReadOnlyList<string> frames, bool many)
    {
        Task wait;
        lock (gate)
        {
            if (aborted.Task.IsCompleted)
            {
                throw new IOException("aborted");
            }

            writes.Add(frames);
            Many.Add(many);
            pending = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            wait = holdWrites ? pending.Task : Task.CompletedTask;
        }

        started.Writer.TryWrite(frames);
        return new ValueTask(wait);
    }
}

/// <summary>An event whose encoding is its text, and the frame encoder that writes each item as its own frame.</summary>
public sealed class TextEvent(string text) : ChatEvent
{
    public string Text { get; } = text;
}

/// <summary>Encodes <see cref="TextEvent"/>s as their UTF-8 text, counting calls; frames items one per frame.</summary>
public sealed class TextFrames : IFrameEncoder, IEventEncoder
{
    private int encodes;

    public int Encodes => Volatile.Read(ref encodes);

    public bool Disposed { get; private set; }

    public IEventEncoder Events => this;

    public ReadOnlyMemory<byte> Encode(ChatEvent chatEvent)
    {
        Interlocked.Increment(ref encodes);
        return Encoding.UTF8.GetBytes(((TextEvent)chatEvent).Text);
    }

    /// <summary>What the outbox asked of the encoder, in order: "frame N" (items in the run), "release".</summary>
    public Channel<string> Calls { get; } = Channel.CreateUnbounded<string>();

    public void Frame(IReadOnlyList<ReadOnlyMemory<byte>> items, List<ReadOnlyMemory<byte>> frames)
    {
        Calls.Writer.TryWrite($"frame {items.Count}");
        frames.AddRange(items);
    }

    public void Release() => Calls.Writer.TryWrite("release");

    public void Dispose() => Disposed = true;
}
