using System.Text;
using TinyChat.Chat;
using TinyChat.Protocols.Http;
using TinyChat.Protocols.Json;
using TinyChat.Protocols.Phoenix;

namespace TinyChat.Tests.Protocols;

/// <summary>How each front door renders a mention and a read position (docs/protocol.md, Reading).</summary>
[TestFixture]
public sealed class ReadingEncodingTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 10, 15, 30, 125, TimeSpan.Zero);

    private static string Text(ChatEvent e, IEventEncoder encoder) => Encoding.UTF8.GetString(e.EncodeWith(encoder).Span);

    [Test]
    public void The_native_protocol_nests_each_in_its_own_object()
    {
        Assert.That(
            Text(new MentionNotice("bar", "lobby", "foo", 42, T0, "hi @bar"), JsonEventEncoder.Instance),
            Is.EqualTo("""{"mention":{"room":"lobby","from":"foo","id":42,"ts":"2026-11-22T10:15:30.125Z","message":"hi @bar"}}"""));
        Assert.That(Text(new ReadMarker("bar", "lobby", null, 42, 3, 1), JsonEventEncoder.Instance), Is.EqualTo("""{"read":{"room":"lobby","id":42,"unread":3,"mentions":1}}"""));
        Assert.That(Text(new ReadMarker("bar", null, "foo", 7, 0, 0), JsonEventEncoder.Instance), Is.EqualTo("""{"read":{"with":"foo","id":7,"unread":0}}"""));
    }

    [Test]
    public void Phoenix_pushes_them_on_the_users_topic_and_event_streams_name_them()
    {
        var phoenix = Text(new MentionNotice("bar", "lobby", "foo", 42, T0, "hi"), PhoenixEventEncoder.For(PhoenixVersion.V2));
        Assert.That(phoenix, Does.StartWith("""[null,null,"user:bar","mention",{"room":"lobby","from":"foo","id":42"""));
        Assert.That(Text(new ReadMarker("bar", "lobby", null, 42, 0, 0), PhoenixEventEncoder.For(PhoenixVersion.V2)), Does.Contain("\"user:bar\",\"read\""));
        Assert.That(Text(new ReadMarker("bar", "lobby", null, 42, 0, 0), SseEventEncoder.UserStream), Does.StartWith("event: read\n"));
        Assert.That(Text(new MentionNotice("bar", "lobby", "foo", 42, T0, "hi"), SseEventEncoder.UserStream), Does.StartWith("event: mention\n"));
    }
}
