using TinyChat.Runtime;

namespace TinyChat.Tests.Runtime;

[TestFixture]
public sealed class ReplyListenerTests
{
    [Test]
    public void A_listener_hears_the_first_answer_once_on_the_replying_thread()
    {
        var listener = new Listener();
        var reply = new Reply<int>(listener);
        reply.Complete(7);
        reply.Complete(8);
        reply.Fail(new InvalidOperationException("late"));

        Assert.That(listener.Heard, Is.EqualTo(new object[] { 7 }));
        Assert.That(listener.Threads, Is.EqualTo(new[] { Environment.CurrentManagedThreadId }));
        Assert.That(() => reply.Task, Throws.InvalidOperationException, "a reply with a listener makes no task");
    }

    [Test]
    public void A_listener_hears_the_first_failure_once_and_a_later_answer_is_ignored()
    {
        var listener = new Listener();
        var reply = new Reply<int>(listener);
        var reason = new InvalidOperationException("stopped");
        reply.Fail(reason);
        reply.Fail(new InvalidOperationException("again"));
        reply.Complete(1);

        Assert.That(listener.Heard, Is.EqualTo(new object[] { reason }));
    }

    private sealed class Listener : IReplyListener<int>
    {
        public List<object> Heard { get; } = [];

        public List<int> Threads { get; } = [];

        public void OnReply(int value)
        {
            Heard.Add(value);
            Threads.Add(Environment.CurrentManagedThreadId);
        }

        public void OnFailure(Exception reason) => Heard.Add(reason);
    }
}
