namespace TinyChat.Chat;

/// <summary>The bounded outbound queue of one client connection.</summary>
public interface IOutbox
{
    /// <summary>
    /// Queues an event for the connection. Never blocks; preserves order. False when the queue was full:
    /// the connection is then closed as a slow reader and receives nothing more.
    /// </summary>
    bool TryDeliver(ChatEvent chatEvent);
}
