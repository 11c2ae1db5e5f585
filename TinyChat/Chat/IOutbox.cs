namespace TinyChat.Chat;

/// <summary>The bounded outbound queue of one client connection.</summary>
public interface IOutbox
{
    /// <summary>
    /// Queues an event for the connection. Never blocks; preserves order. False when the queue was full:
    /// the connection is then closed as a slow reader and receives nothing more.
    /// </summary>
    bool TryDeliver(ChatEvent chatEvent);

    /// <summary>
    /// Queues a room's committed batch, in order, as <see cref="TryDeliver(ChatEvent)"/> would each event, and counts
    /// it as that many events against the bound. An outbox may queue the batch as one item: one queue write and one
    /// wake-up of its writer per batch rather than per message. False when it did not fit (the connection is then
    /// closed as a slow reader).
    /// </summary>
    bool TryDeliverBatch(IReadOnlyList<ChatEvent> batch)
    {
        foreach (var chatEvent in batch)
        {
            if (!TryDeliver(chatEvent))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Ends the connection from the server side because its user may no longer be connected (an administrator reset
    /// the token or deleted the account): what is queued is dropped and the client is told <paramref name="reason"/>
    /// the way its protocol says goodbye. Never blocks; a connection that is already closing stays as it was.
    /// </summary>
    void Disconnect(string reason);
}
