using System.Text;
using TinyChat.Chat;
using TinyChat.Protocols.Json;

namespace TinyChat.Tests.Protocols;

/// <summary>The native protocol's encodings share one writer per thread: none may carry another's bytes.</summary>
[TestFixture]
public sealed class JsonEventEncoderTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 10, 15, 30, 125, TimeSpan.Zero);

    private static string Text(ChatEvent e, IEventEncoder encoder) => Encoding.UTF8.GetString(e.EncodeWith(encoder).Span);

    [Test]
    public void A_short_message_after_a_long_one_on_the_same_thread_is_only_itself()
    {
        var longText = new string('x', 70_000);
        Assert.That(Text(new RoomMessage("lobby", "foo", longText, 1, T0), JsonEventEncoder.Instance), Does.Contain(longText));
        Assert.That(Text(new RoomMessage("lobby", "foo", "a much longer text than the next", 2, T0), JsonEventEncoder.Instance), Is.EqualTo("""{"room":"lobby","from":"foo","message":"a much longer text than the next","id":2,"ts":"2026-11-22T10:15:30.125Z"}"""));
        Assert.That(Text(new RoomMessage("r", "b", "hi", 3, T0), JsonEventEncoder.Instance), Is.EqualTo("""{"room":"r","from":"b","message":"hi","id":3,"ts":"2026-11-22T10:15:30.125Z"}"""));
        Assert.That(Text(new RoomMessage("r", "b", "hi", 4, T0), GroupedEventEncoder.Instance), Is.EqualTo("""{"room":"r","id":4,"ts":1795342530125,"messages":[["b","hi"]]}"""));
    }

    [Test]
    public void An_encoding_that_fails_halfway_leaves_nothing_for_the_next()
    {
        Assert.Throws<InvalidOperationException>(() => JsonEventEncoder.Build(w =>
        {
            w.WriteStartObject();
            w.WriteString("half", "written");
            throw new InvalidOperationException("fails");
        }));
        Assert.That(Encoding.UTF8.GetString(JsonEventEncoder.Build(w =>
        {
            w.WriteStartObject();
            w.WriteBoolean("ok", true);
            w.WriteEndObject();
        })), Is.EqualTo("""{"ok":true}"""));
    }

    [Test]
    public void An_encoding_inside_another_gets_a_writer_of_its_own()
    {
        var outer = JsonEventEncoder.Build(w =>
        {
            w.WriteStartObject();
            w.WriteString("a", "1");
            var inner = JsonEventEncoder.Build(v =>
            {
                v.WriteStartObject();
                v.WriteString("b", "2");
                v.WriteEndObject();
            });
            w.WritePropertyName("inner");
            w.WriteRawValue(inner);
            w.WriteEndObject();
        });
        Assert.That(Encoding.UTF8.GetString(outer), Is.EqualTo("""{"a":"1","inner":{"b":"2"}}"""));
    }
}
