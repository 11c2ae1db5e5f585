using System.Text;
using System.Text.Json;
using TinyChat.Chat;
using TinyChat.Protocols.Json;
using TinyChat.Tests.Web;
using TinyChat.Web;

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

    // The outbox gives the joining buffer back whenever it drains (Release); a pool that poisons what comes back and
    // a transport that reads each write only as it completes catch a frame that outlives its buffer.
    [Test]
    public async Task Batched_runs_come_out_whole_and_in_order_across_released_buffers()
    {
        var pool = new PoisoningPool();
        var transport = new LateReadingTransport();
        var releases = new ReleaseCountingFrames(new JsonFrameEncoder(batch: true, pool));
        var outbox = new ConnectionOutbox(transport, releases, capacity: 512);
        var running = outbox.RunAsync(() => transport.Ended);
        var at = new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero);
        var random = new Random(20261203);
        var sent = new List<string>();
        var written = 0;
        for (var burst = 0; burst < 40; burst++)
        {
            var before = releases.Count;
            var size = 3 + random.Next(24);
            for (var i = 0; i < size; i++)
            {
                var message = new RoomMessage("default", "foo_user", $"{burst}.{i}:é\n\"{new string('z', random.Next(6000))}", sent.Count + 1, at);
                Assert.That(outbox.TryDeliver(message), Is.True);
                sent.Add(message.Text);
            }

            while (written < sent.Count)
            {
                var carried = await transport.CompleteNextAsync();
                Assert.That(string.Concat(carried), Does.Not.Contain('#'), $"burst {burst}: a write carried bytes of a buffer already given back");
                written += carried.Sum(frame => frame.Split('\n').Length);
            }

            await releases.ReleasedAfterAsync(before);
        }

        outbox.Close(1000, "done", drain: true);
        await running.WaitAsync(TimeSpan.FromSeconds(30));

        var texts = transport.Frames.SelectMany(frame => frame.Split('\n')).Select(json => JsonDocument.Parse(json).RootElement.GetProperty("message").GetString());
        Assert.That(texts, Is.EqualTo(sent), "every object whole, once, in order");
        Assert.That(pool.Returns, Is.GreaterThanOrEqualTo(40), "the joining buffer went back after each burst");
        Assert.That(pool.Reuses, Is.GreaterThanOrEqualTo(20), "and was rented again, poisoned, for later bursts (a new one only when a run needs more)");
    }
}
