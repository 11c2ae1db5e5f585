using TinyChat.Chat;

namespace TinyChat.Tests.Chat;

/// <summary>
/// Subscribed to a room's topic, holds the room's loop inside the delivery of the next committed batch until
/// released (the bus calls the publishing node's subscribers synchronously), so a test decides what is queued in
/// the room's mailbox when it goes on.
/// </summary>
internal sealed class LoopHolder : IChatBusSubscriber
{
    private static readonly TimeSpan Longest = TimeSpan.FromSeconds(30);
    private TaskCompletionSource entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private SemaphoreSlim release = new(0);
    private int armed;

    public Task Entered => entered.Task;

    public void Arm()
    {
        entered = new(TaskCreationOptions.RunContinuationsAsynchronously);
        release = new SemaphoreSlim(0);
        Volatile.Write(ref armed, 1);
    }

    public void Release() => release.Release();

    public void Receive(ChatTopic from, ChatBusMessage message)
    {
        if (message is CommittedMessages && Interlocked.Exchange(ref armed, 0) == 1)
        {
            entered.TrySetResult();
            release.Wait(Longest);
        }
    }
}
