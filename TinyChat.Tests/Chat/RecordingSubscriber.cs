using System.Collections.Concurrent;
using TinyChat.Chat;

namespace TinyChat.Tests.Chat;

/// <summary>A bus subscriber that keeps what it receives.</summary>
public sealed class RecordingSubscriber : IChatBusSubscriber
{
    private readonly ConcurrentQueue<ChatBusMessage> received = new();

    public void Receive(ChatTopic topic, ChatBusMessage message) => received.Enqueue(message);

    /// <summary>Everything received so far, oldest first.</summary>
    public IReadOnlyList<ChatBusMessage> Received => [.. received];
}
