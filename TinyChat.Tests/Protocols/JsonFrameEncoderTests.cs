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

    [TestCase(JsonFraming.Lines)]
    [TestCase(JsonFraming.Groups)]
    public void A_room_batch_is_encoded_once_as_the_very_frame_a_connection_would_join(JsonFraming framing)
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_796_288_400_125);
        ChatEvent[] events =
        [
            new RoomMessage("lobby", "foo_user", "hello", 41, at),
            new RoomMessage("lobby", "bar_user", "hi \"foo\"\nthere", 42, at),
            new RoomMessage("lobby", "foo_user", "", 43, at) { Kind = RoomEventKind.Topic },
            new RoomMessage("lobby", "foo_user", "again", 44, at),
            new RoomMessage("lobby", "bar_user", "é ✓", 45, at),
        ];
        var batch = new EventBatch(events);
        using var connection = new JsonFrameEncoder(framing);
        var joined = new List<ReadOnlyMemory<byte>>();
        connection.Frame([.. events.Select(e => e.EncodeWith(connection.Events))], events, joined);

        var shared = batch.EncodeWith(connection.Batches!);

        Assert.That(shared, Is.Not.Null);
        Assert.That(Encoding.UTF8.GetString(shared!.Value.Span), Is.EqualTo(Texts(joined).Single()));
        Assert.That(batch.EncodeWith(connection.Batches!)!.Value.Equals(shared.Value), Is.True, "the same bytes for the next connection, not encoded again");
        Assert.That(new JsonFrameEncoder(framing).Batches, Is.SameAs(connection.Batches), "one encoder per framing, shared by its connections");
    }

    [Test]
    public void A_batch_one_joined_frame_would_not_hold_is_framed_by_each_connection_and_unbatched_clients_frame_every_event()
    {
        var at = DateTimeOffset.UnixEpoch;
        var big = new EventBatch([.. Enumerable.Range(1, 100).Select(i => (ChatEvent)new RoomMessage("lobby", "foo", new string('x', 1000), i, at))]);
        using var groups = new JsonFrameEncoder(JsonFraming.Groups);
        Assert.That(big.EncodeWith(groups.Batches!), Is.Null, "100 KB is more than one frame of 64 KiB");
        using var single = new JsonFrameEncoder(JsonFraming.Single);
        Assert.That(single.Batches, Is.Null);
    }

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

    private static readonly DateTimeOffset At = new(2026, 12, 3, 9, 0, 0, 125, TimeSpan.Zero);

    private static RoomMessage Chat(long id, string text, string room = "lobby", string from = "foo_user", DateTimeOffset? at = null) =>
        new(room, from, text, id, at ?? At);

    // What the outbox hands a batch=2 connection's framing: each event encoded once by the shared encoder.
    private static string[] Grouped(params ChatEvent[] events)
    {
        using var encoder = new JsonFrameEncoder(JsonFraming.Groups);
        var frames = new List<ReadOnlyMemory<byte>>();
        encoder.Frame([.. events.Select(e => e.EncodeWith(encoder.Events))], events, frames);
        return Texts(frames);
    }

    [Test]
    public void A_chat_message_alone_is_a_group_of_one_naming_room_id_and_time_once()
    {
        var message = Chat(7, "hi \"there\"\n\u00e9");

        Assert.That(
            Encoding.UTF8.GetString(message.EncodeWith(GroupedEventEncoder.Instance).Span),
            Is.EqualTo("{\"room\":\"lobby\",\"id\":7,\"ts\":1796288400125,\"messages\":[[\"foo_user\",\"hi \\\"there\\\"\\n\u00e9\"]]}"));
        Assert.That(Grouped(message), Is.EqualTo(new[] { "{\"room\":\"lobby\",\"id\":7,\"ts\":1796288400125,\"messages\":[[\"foo_user\",\"hi \\\"there\\\"\\n\u00e9\"]]}" }));
    }

    [Test]
    public void Consecutive_messages_of_one_room_at_one_time_become_one_group()
    {
        // A text that looks like the group's own key must not be mistaken for where a message starts.
        var frames = Grouped(Chat(7, "a"), Chat(8, "b\",\"messages\":[x", from: "bar_user"), Chat(9, "c"));

        Assert.That(frames, Is.EqualTo(new[]
        {
            "{\"room\":\"lobby\",\"id\":7,\"ts\":1796288400125,\"messages\":[[\"foo_user\",\"a\"],[\"bar_user\",\"b\\\",\\\"messages\\\":[x\"],[\"foo_user\",\"c\"]]}",
        }));
        var group = JsonDocument.Parse(frames[0]).RootElement;
        Assert.That(group.GetProperty("messages")[1][1].GetString(), Is.EqualTo("b\",\"messages\":[x"));
    }

    [Test]
    public void A_group_ends_at_another_room_a_gap_in_ids_another_millisecond_a_room_event_or_a_reply()
    {
        var kick = new RoomMessage("lobby", "foo_user", "", 12, At) { Kind = RoomEventKind.Kick, Target = "bar_user" };
        var pong = Encoding.UTF8.GetBytes("{\"pong\":true}");
        using var encoder = new JsonFrameEncoder(JsonFraming.Groups);
        ChatEvent?[] events =
        [
            Chat(1, "a"), Chat(2, "b"),
            Chat(5, "c", room: "other"),
            Chat(4, "d"),
            Chat(5, "e", at: At.AddMilliseconds(1)),
            Chat(6, "f", at: At.AddMilliseconds(1).AddTicks(5)),
            null,
            Chat(7, "g", at: At.AddMilliseconds(1)),
            kick,
            Chat(13, "h"),
        ];
        var items = events.Select(e => e?.EncodeWith(encoder.Events) ?? pong).ToList();
        var frames = new List<ReadOnlyMemory<byte>>();

        encoder.Frame(items, events, frames);

        Assert.That(Texts(frames).Single().Split('\n'), Is.EqualTo(new[]
        {
            "{\"room\":\"lobby\",\"id\":1,\"ts\":1796288400125,\"messages\":[[\"foo_user\",\"a\"],[\"foo_user\",\"b\"]]}",
            "{\"room\":\"other\",\"id\":5,\"ts\":1796288400125,\"messages\":[[\"foo_user\",\"c\"]]}",
            "{\"room\":\"lobby\",\"id\":4,\"ts\":1796288400125,\"messages\":[[\"foo_user\",\"d\"]]}",
            "{\"room\":\"lobby\",\"id\":5,\"ts\":1796288400126,\"messages\":[[\"foo_user\",\"e\"],[\"foo_user\",\"f\"]]}",
            "{\"pong\":true}",
            "{\"room\":\"lobby\",\"id\":7,\"ts\":1796288400126,\"messages\":[[\"foo_user\",\"g\"]]}",
            Encoding.UTF8.GetString(kick.EncodeWith(JsonEventEncoder.Instance).Span),
            "{\"room\":\"lobby\",\"id\":13,\"ts\":1796288400125,\"messages\":[[\"foo_user\",\"h\"]]}",
        }));
    }

    [Test]
    public void Every_other_event_keeps_its_batch_1_bytes_shared_with_batch_1_clients()
    {
        var typing = new TypingNotice("foo_user", "lobby", null);
        var direct = new PrivateMessage("foo_user", "bar_user", "psst", 3, At);
        var edit = new RoomMessage("lobby", "foo_user", "new", 9, At) { Kind = RoomEventKind.Edit, RefersTo = 7 };

        foreach (ChatEvent chatEvent in new ChatEvent[] { typing, direct, edit })
        {
            var lines = chatEvent.EncodeWith(JsonEventEncoder.Instance);
            Assert.That(chatEvent.EncodeWith(GroupedEventEncoder.Instance).Equals(lines), Is.True, $"{chatEvent.GetType().Name}: the same bytes, encoded once");
        }

        Assert.That(Grouped(typing, direct, edit), Is.EqualTo(new[]
        {
            "{\"room\":\"lobby\",\"typing\":\"foo_user\"}\n" +
            "{\"to\":\"bar_user\",\"from\":\"foo_user\",\"message\":\"psst\",\"id\":3,\"ts\":\"2026-12-03T09:00:00.125Z\"}\n" +
            "{\"room\":\"lobby\",\"event\":\"edit\",\"from\":\"foo_user\",\"message_id\":7,\"message\":\"new\",\"id\":9,\"ts\":\"2026-12-03T09:00:00.125Z\"}",
        }));
    }

    [Test]
    public void Batch_1_and_unbatched_framings_are_unchanged_by_groups()
    {
        var a = Chat(1, "a");
        var b = Chat(2, "b");
        var lines = new List<ReadOnlyMemory<byte>>();
        var single = new List<ReadOnlyMemory<byte>>();
        using var batch1 = new JsonFrameEncoder(JsonFraming.Lines);
        using var batch0 = new JsonFrameEncoder(JsonFraming.Single);

        batch1.Frame([a.EncodeWith(batch1.Events), b.EncodeWith(batch1.Events)], [a, b], lines);
        batch0.Frame([a.EncodeWith(batch0.Events), b.EncodeWith(batch0.Events)], [a, b], single);

        const string First = "{\"room\":\"lobby\",\"from\":\"foo_user\",\"message\":\"a\",\"id\":1,\"ts\":\"2026-12-03T09:00:00.125Z\"}";
        const string Second = "{\"room\":\"lobby\",\"from\":\"foo_user\",\"message\":\"b\",\"id\":2,\"ts\":\"2026-12-03T09:00:00.125Z\"}";
        Assert.That(Texts(lines), Is.EqualTo(new[] { First + "\n" + Second }));
        Assert.That(Texts(single), Is.EqualTo(new[] { First, Second }));
    }

    [Test]
    public void A_group_does_not_reach_across_the_64_KiB_frame_limit()
    {
        var big = new string('x', 40 * 1024);
        var frames = Grouped(Chat(1, big), Chat(2, big), Chat(3, big), Chat(4, "d"));

        Assert.That(frames, Has.Length.EqualTo(2));
        var first = JsonDocument.Parse(frames[0]).RootElement;
        var second = JsonDocument.Parse(frames[1]).RootElement;
        Assert.That(first.GetProperty("id").GetInt64(), Is.EqualTo(1));
        Assert.That(first.GetProperty("messages").GetArrayLength(), Is.EqualTo(2));
        Assert.That(second.GetProperty("id").GetInt64(), Is.EqualTo(3));
        Assert.That(second.GetProperty("messages").GetArrayLength(), Is.EqualTo(2));
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
