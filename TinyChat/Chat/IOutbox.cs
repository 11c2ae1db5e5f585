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
    /// Ends the connection from the server side because its user may no longer be connected (an administrator reset
    /// the token or deleted the account): what is queued is dropped and the client is told <paramref name="reason"/>
    /// the way its protocol says goodbye. Never blocks; a connection that is already closing stays as it was.
    /// </summary>
    void Disconnect(string reason);
}
