namespace TinyChat.Chat;

/// <summary>
/// Where a front door hears how a post it queued ended: its sequence number once it is durable and broadcast, or why
/// it was refused. Called on the room's loop (a refusal found out later, on the thread pool): it must only queue
/// (an acknowledgement on the connection's outbox), never block or throw.
/// </summary>
public interface IPostReceipt
{
    /// <summary>The post's outcome; called once.</summary>
    void Settled(Outcome<long> outcome);
}
