using System.Threading.Channels;
using TinyChat.Chat;

namespace TinyChat.Tests.Chat;

/// <summary>An outbox that records what it is given; optionally full.</summary>
public sealed class RecordingOutbox(bool full = false) : IOutbox
{
    private readonly Channel<ChatEvent> events = Channel.CreateUnbounded<ChatEvent>();

    public bool TryDeliver(ChatEvent chatEvent) => !full && events.Writer.TryWrite(chatEvent);

    /// <summary>Why the server disconnected this outbox, once it did.</summary>
    public string? DisconnectReason { get; private set; }

    public void Disconnect(string reason) => DisconnectReason ??= reason;

    /// <summary>The next event of type <typeparamref name="T"/>, skipping others.</summary>
    public async Task<T> NextAsync<T>()
        where T : ChatEvent
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        while (true)
        {
            if (await events.Reader.ReadAsync(timeout.Token) is T match)
            {
                return match;
            }
        }
    }

    /// <summary>Takes everything queued now.</summary>
    public IReadOnlyList<ChatEvent> Drain()
    {
        var all = new List<ChatEvent>();
        while (events.Reader.TryRead(out var e))
        {
            all.Add(e);
        }

        return all;
    }

    /// <summary>Whether no room message is queued now (other events are consumed).</summary>
    public bool HasNoMessages => !Drain().OfType<RoomMessage>().Any();
}
