using System.Text;
using TinyChat.Chat;
using TinyChat.Protocols.Json;

namespace TinyChat.Tests.Protocols;

[TestFixture]
public sealed class JsonFrameEncoderTests
{
    private static ReadOnlyMemory<byte> Item(string json) => Encoding.UTF8.GetBytes(json);

    private static string[] Texts(List<ReadOnlyMemory<byte>> frames) => [.. frames.Select(f => Encoding.UTF8.GetString(f.Span))];

    [Test]
    public void Without_batching_each_item_is_its_own_frame()
    {
        using var encoder = new JsonFrameEncoder(batch: false);
        var frames = new List<ReadOnlyMemory<byte>>();

        encoder.Frame([Item("{\"a\":1}"), Item("{\"b\":2}")], frames);

        Assert.That(Texts(frames), Is.EqualTo(new[] { "{\"a\":1}", "{\"b\":2}" }));
    }

    [Test]
    public void With_batching_items_queued_together_become_one_newline_joined_frame()
    {
        using var encoder = new JsonFrameEncoder(batch: true);
        var frames = new List<ReadOnlyMemory<byte>>();

        encoder.Frame([Item("{\"a\":1}"), Item("{\"b\":2}"), Item("{\"c\":3}")], frames);

        Assert.That(Texts(frames), Is.EqualTo(new[] { "{\"a\":1}\n{\"b\":2}\n{\"c\":3}" }));
    }

    [Test]
    public void A_single_item_goes_out_as_is()
    {
        using var encoder = new JsonFrameEncoder(batch: true);
        var frames = new List<ReadOnlyMemory<byte>>();
        var only = Item("{\"a\":1}");

        encoder.Frame([only], frames);

        Assert.That(frames.Single().Equals(only), Is.True, "no copy for one item");
    }

    [Test]
    public void A_joined_frame_stops_growing_at_64_KiB()
    {
        using var encoder = new JsonFrameEncoder(batch: true);
        var frames = new List<ReadOnlyMemory<byte>>();
        var big = $"{{\"m\":\"{new string('x', 40 * 1024)}\"}}";

        encoder.Frame([Item(big), Item(big), Item(big), Item("{\"last\":1}")], frames);

        // Objects join while the frame is under the cap, so the third one starts a new frame.
        Assert.That(Texts(frames), Is.EqualTo(new[] { $"{big}\n{big}", $"{big}\n{{\"last\":1}}" }));
        Assert.That(frames.Max(f => f.Length), Is.LessThan(JsonFrameEncoder.MaxJoinedBytes + big.Length + 1));
    }

    [Test]
    public void Events_are_encoded_with_the_one_shared_JSON_encoder()
    {
        using var first = new JsonFrameEncoder(batch: true);
        using var second = new JsonFrameEncoder(batch: false);

        Assert.That(first.Events, Is.SameAs(second.Events));
        Assert.That(first.Events, Is.SameAs(JsonEventEncoder.Instance));
        var typing = new TypingNotice("foo", "lobby", null);
        Assert.That(Encoding.UTF8.GetString(typing.EncodeWith(first.Events).Span), Is.EqualTo("{\"room\":\"lobby\",\"typing\":\"foo\"}"));
    }
}
