using System.Threading.Channels;
using TinyChat.Chat;

namespace TinyChat.Tests.Chat;

/// <summary>An outbox that records what it is given; optionally full.</summary>
public sealed class RecordingOutbox(bool full = false) : IOutbox
{
    private readonly Channel<ChatEvent> events = Channel.CreateUnbounded<ChatEvent>();

    public bool TryDeliver(ChatEvent chatEvent) => !full && events.Writer.TryWrite(chatEvent);

    public async Task<T> NextAsync<T>()
        where T : ChatEvent
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        return (T)await events.Reader.ReadAsync(timeout.Token);
    }

    public bool IsEmpty => !events.Reader.TryPeek(out _);
}
