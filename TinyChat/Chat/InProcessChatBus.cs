using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace TinyChat.Chat;

/// <summary>
/// The bus of a single node: publishing calls the topic's subscribers directly, so a room batch reaches its
/// deliverer at the cost of one dictionary lookup, whatever the number of recipients behind it.
/// </summary>
public sealed class InProcessChatBus(ILogger<InProcessChatBus>? logger = null) : IChatBus
{
    // Copy-on-write arrays: publishing (hot) reads a snapshot without locking; subscribing (rare) locks.
    private readonly ConcurrentDictionary<ChatTopic, IChatBusSubscriber[]> topics = new();
    private readonly object gate = new();

    /// <summary>Topics with at least one subscriber.</summary>
    public int Topics => topics.Count;

    /// <inheritdoc />
    public void Publish(ChatTopic topic, ChatBusMessage message)
    {
        if (!topics.TryGetValue(topic, out var subscribers))
        {
            return;
        }

        foreach (var subscriber in subscribers)
        {
            try
            {
                subscriber.Receive(topic, message);
            }
            catch (Exception ex)
            {
                // A broken deliverer is a bug to report, not a reason to fail the publisher (whose message is
                // already committed) or to starve the other subscribers.
                logger?.LogError(ex, "A subscriber of {TopicKind} {Topic} failed on a published message", topic.Kind, topic.Name);
            }
        }
    }

    /// <summary>Whether anyone here listens to the topic now.</summary>
    public bool HasSubscribers(ChatTopic topic) => topics.ContainsKey(topic);

    /// <summary>Publishes to the subscribers of every topic (a cluster bus saying it lost messages).</summary>
    public void PublishToAll(ChatBusMessage message)
    {
        foreach (var topic in topics.Keys)
        {
            Publish(topic, message);
        }
    }

    /// <inheritdoc />
    public IDisposable Subscribe(ChatTopic topic, IChatBusSubscriber subscriber)
    {
        lock (gate)
        {
            topics[topic] = topics.TryGetValue(topic, out var current) ? [.. current, subscriber] : [subscriber];
        }

        return new Subscription(this, topic, subscriber);
    }

    private void Unsubscribe(ChatTopic topic, IChatBusSubscriber subscriber)
    {
        lock (gate)
        {
            if (!topics.TryGetValue(topic, out var current))
            {
                return;
            }

            var index = Array.IndexOf(current, subscriber);
            if (index < 0)
            {
                return;
            }

            if (current.Length == 1)
            {
                topics.TryRemove(topic, out _);
            }
            else
            {
                topics[topic] = [.. current[..index], .. current[(index + 1)..]];
            }
        }
    }

    private sealed class Subscription(InProcessChatBus bus, ChatTopic topic, IChatBusSubscriber subscriber) : IDisposable
    {
        private int disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref disposed, 1) == 0)
            {
                bus.Unsubscribe(topic, subscriber);
            }
        }
    }
}
