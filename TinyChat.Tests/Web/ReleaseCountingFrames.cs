using System.Threading.Channels;
using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Tests.Web;

/// <summary>A protocol's frame encoder as the outbox sees it, counting the writer's <see cref="Release"/> calls.</summary>
public sealed class ReleaseCountingFrames(IFrameEncoder inner) : IFrameEncoder
{
    private readonly Channel<int> released = Channel.CreateUnbounded<int>();
    private int count;

    public int Count => Volatile.Read(ref count);

    public IEventEncoder Events => inner.Events;

    public void Frame(IReadOnlyList<ReadOnlyMemory<byte>> items, List<ReadOnlyMemory<byte>> frames) => inner.Frame(items, frames);

    public void Frame(IReadOnlyList<ReadOnlyMemory<byte>> items, IReadOnlyList<ChatEvent?> events, List<ReadOnlyMemory<byte>> frames) => inner.Frame(items, events, frames);

    public void Release()
    {
        inner.Release();
        released.Writer.TryWrite(Interlocked.Increment(ref count));
    }

    public void Dispose() => inner.Dispose();

    /// <summary>Waits until the writer has released more than <paramref name="before"/> times.</summary>
    public async Task ReleasedAfterAsync(int before)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (await released.Reader.ReadAsync(timeout.Token) <= before)
        {
        }
    }
}
