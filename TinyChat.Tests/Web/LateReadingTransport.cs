using System.Text;
using System.Threading.Channels;
using TinyChat.Web;

namespace TinyChat.Tests.Web;

/// <summary>
/// A transport whose writes finish only when the test completes them, and which reads the frames' bytes then, as a
/// send still in flight would, not when the write began: a buffer given back during a write is caught.
/// </summary>
public sealed class LateReadingTransport : ITransport
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);
    private readonly Channel<(ReadOnlyMemory<byte>[] Frames, TaskCompletionSource Done)> started = Channel.CreateUnbounded<(ReadOnlyMemory<byte>[], TaskCompletionSource)>();
    private readonly TaskCompletionSource ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<string> frames = [];

    /// <summary>Every frame written, as UTF-8 text, in order.</summary>
    public IReadOnlyList<string> Frames => frames;

    /// <summary>Everything written, as one UTF-8 text.</summary>
    public string Text => string.Concat(frames);

    /// <summary>The most frames one write carried.</summary>
    public int MostFramesInOneWrite { get; private set; }

    /// <summary>Completes when the outbox said goodbye or aborted.</summary>
    public Task Ended => ended.Task;

    public ValueTask WriteAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken) => HoldAsync([frame]);

    // The list is the outbox's own and reused; the bytes it points to are what the test reads late.
    public ValueTask WriteManyAsync(IReadOnlyList<ReadOnlyMemory<byte>> frames, CancellationToken cancellationToken) => HoldAsync([.. frames]);

    public ValueTask CloseAsync(int code, string reason, CancellationToken cancellationToken)
    {
        ended.TrySetResult();
        return ValueTask.CompletedTask;
    }

    public void Abort() => ended.TrySetResult();

    /// <summary>Waits for the next write, reads its bytes, lets it finish and returns the frames it carried.</summary>
    public async Task<string[]> CompleteNextAsync()
    {
        using var timeout = new CancellationTokenSource(Patience);
        var (write, done) = await started.Reader.ReadAsync(timeout.Token);
        var carried = write.Select(f => Encoding.UTF8.GetString(f.Span)).ToArray();
        frames.AddRange(carried);
        MostFramesInOneWrite = Math.Max(MostFramesInOneWrite, carried.Length);
        done.TrySetResult();
        return carried;
    }

    private async ValueTask HoldAsync(ReadOnlyMemory<byte>[] frames)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        started.Writer.TryWrite((frames, done));
        await done.Task.WaitAsync(Patience).ConfigureAwait(false);
    }
}
