using Microsoft.Extensions.Logging;
using NSubstitute;
using TinyChat.Chat;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Chat;

/// <summary>What the single-node bus does beyond the shared contract.</summary>
public sealed class InProcessChatBusTests
{
    [Test]
    public void A_subscriber_that_throws_is_reported_once_per_failure_with_its_topic()
    {
        using var logs = new LogCapture();
        var bus = new InProcessChatBus(new Logger<InProcessChatBus>(new LoggerFactory([logs])));
        var broken = Substitute.For<IChatBusSubscriber>();
        broken.When(b => b.Receive(Arg.Any<ChatTopic>(), Arg.Any<ChatBusMessage>())).Do(_ => throw new InvalidOperationException("broken deliverer"));
        bus.Subscribe(ChatTopic.User("bob"), broken);

        bus.Publish(ChatTopic.User("bob"), new ChatBusEvent(new TypingNotice("alice", null, "bob")));

        var errors = logs.Lines.Where(l => l.StartsWith("Error", StringComparison.Ordinal)).ToList();
        Assert.That(errors, Has.Count.EqualTo(1));
        Assert.That(errors[0], Does.Contain("Topic=bob").And.Contain("TopicKind=User").And.Contain("broken deliverer"));
    }

    [Test]
    public void The_last_unsubscribe_forgets_the_topic()
    {
        var bus = new InProcessChatBus();
        var first = bus.Subscribe(ChatTopic.Room("lobby"), new RecordingSubscriber());
        var second = bus.Subscribe(ChatTopic.Room("lobby"), new RecordingSubscriber());
        Assert.That(bus.Topics, Is.EqualTo(1));

        first.Dispose();
        Assert.That(bus.Topics, Is.EqualTo(1));
        second.Dispose();
        Assert.That(bus.Topics, Is.Zero, "no empty entry per user who ever came online");
    }
}
