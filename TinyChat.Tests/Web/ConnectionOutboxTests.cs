using System.Text;
using TinyChat.Chat;
using TinyChat.Protocols.Json;
using TinyChat.Tests.Support;
using TinyChat.Web;

namespace TinyChat.Tests.Web;

[TestFixture]
public sealed class ConnectionOutboxTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private static Reply ReplyOf(string text) => new(Encoding.UTF8.GetBytes(text));

    // The peer's side of the connection: it ends when the outbox says goodbye or cuts the transport.
    private static Task RunAsync(ConnectionOutbox outbox, RecordingTransport transport) => outbox.RunAsync(() => transport.Ended);

    [Test]
    public async Task Events_and_replies_go_out_in_the_order_they_were_queued()
    {
        var transport = new RecordingTransport();
        var frames = new TextFrames();
        var outbox = new ConnectionOutbox(transport, frames, capacity: 16);
        Assert.That(outbox.TryDeliver(new TextEvent("e1")), Is.True);
        Assert.That(outbox.TryDeliver(ReplyOf("r1")), Is.True);
        Assert.That(outbox.TryDeliver(new TextEvent("e2")), Is.True);
        Assert.That(outbox.TryDeliver(ReplyOf("r2")), Is.True);
        outbox.Close(1001, "server shutting down", drain: true);

        await RunAsync(outbox, transport).WaitAsync(Patience);

        Assert.That(transport.Frames, Is.EqualTo(new[] { "e1", "r1", "e2", "r2" }));
        Assert.That(transport.Goodbye, Is.EqualTo((1001, "server shutting down")));
        Assert.That(outbox.Closed.IsCompleted, Is.True);
        Assert.That(frames.Disposed, Is.True, "the outbox owns its frame encoder");
    }

    [Test]
    public async Task A_catch_up_waits_until_the_writer_has_taken_the_queue_down_and_is_let_go_when_the_connection_closes()
    {
        var transport = new RecordingTransport(holdWrites: true);
        var outbox = new ConnectionOutbox(transport, new TextFrames(), capacity: 16);
        var running = RunAsync(outbox, transport);
        Assert.That(outbox.WhenQueuedAtMostAsync(0, CancellationToken.None).IsCompleted, Is.True, "nothing queued");
        outbox.TryDeliver(new TextEvent("a"));
        await transport.NextWriteAsync();
        for (var i = 0; i < 8; i++)
        {
            outbox.TryDeliver(new TextEvent($"b{i}"));
        }

        // Items count until their write is done: that is what carries the peer's pace back to the catch-up.
        var room = outbox.WhenQueuedAtMostAsync(2, CancellationToken.None);
        Assert.That(room.IsCompleted, Is.False, "8 are queued behind a write in flight");
        transport.Release();
        Assert.That(await transport.NextWriteAsync(), Has.Count.EqualTo(8));
        Assert.That(room.IsCompleted, Is.False, "taken, not yet written");
        transport.Release();
        await room.WaitAsync(Patience);

        outbox.TryDeliver(new TextEvent("c"));
        await transport.NextWriteAsync();
        outbox.TryDeliver(new TextEvent("d"));
        outbox.TryDeliver(new TextEvent("e"));
        var never = outbox.WhenQueuedAtMostAsync(0, CancellationToken.None);
        Assert.That(never.IsCompleted, Is.False);
        outbox.Close(1008, "gone", drain: false);
        transport.Release();
        await never.WaitAsync(Patience);
        await running.WaitAsync(Patience);
    }

    [Test]
    public async Task An_event_the_protocol_encodes_to_nothing_is_not_written()
    {
        var transport = new RecordingTransport();
        var outbox = new ConnectionOutbox(transport, new TextFrames(), capacity: 16);
        outbox.TryDeliver(new TextEvent(""));
        outbox.TryDeliver(new TextEvent("shown"));
        outbox.TryDeliver(new TextEvent(""));
        outbox.Close(1000, "", drain: true);

        await RunAsync(outbox, transport).WaitAsync(Patience);

        Assert.That(transport.Frames, Is.EqualTo(new[] { "shown" }), "no empty frame");
    }

    [Test]
    public async Task Items_queued_while_a_write_is_in_flight_go_to_the_transport_together()
    {
        var transport = new RecordingTransport(holdWrites: true);
        var outbox = new ConnectionOutbox(transport, new TextFrames(), capacity: 16);
        var running = RunAsync(outbox, transport);
        outbox.TryDeliver(new TextEvent("a"));
        Assert.That(await transport.NextWriteAsync(), Is.EqualTo(new[] { "a" }));

        outbox.TryDeliver(new TextEvent("b"));
        outbox.TryDeliver(ReplyOf("c"));
        outbox.TryDeliver(new TextEvent("d"));
        transport.Release();

        Assert.That(await transport.NextWriteAsync(), Is.EqualTo(new[] { "b", "c", "d" }));
        Assert.That(transport.Many, Is.EqualTo(new[] { false, true }), "one write for one item, one write-many for the run");
        transport.Release();
        outbox.Close(1000, "", drain: true);
        await running.WaitAsync(Patience);
    }

    [Test]
    public async Task The_frame_encoder_gives_its_buffers_back_once_the_queue_is_drained_not_between_the_runs_of_a_burst()
    {
        var transport = new RecordingTransport(holdWrites: true);
        var frames = new TextFrames();
        var outbox = new ConnectionOutbox(transport, frames, capacity: 16);
        var running = RunAsync(outbox, transport);
        outbox.TryDeliver(new TextEvent("a"));
        Assert.That(await transport.NextWriteAsync(), Is.EqualTo(new[] { "a" }));
        outbox.TryDeliver(new TextEvent("b"));
        outbox.TryDeliver(new TextEvent("c"));
        transport.Release();
        Assert.That(await transport.NextWriteAsync(), Is.EqualTo(new[] { "b", "c" }));
        transport.Release();

        using var timeout = new CancellationTokenSource(Patience);
        var calls = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            calls.Add(await frames.Calls.Reader.ReadAsync(timeout.Token));
        }

        Assert.That(calls, Is.EqualTo(new[] { "frame 1", "frame 2", "release" }));
        outbox.Close(1000, "", drain: true);
        await running.WaitAsync(Patience);
    }

    [Test]
    public async Task A_full_outbox_closes_its_slow_reader_with_the_reason_drops_the_rest_and_never_blocks_the_deliverer()
    {
        var transport = new RecordingTransport(holdWrites: true);
        var outbox = new ConnectionOutbox(transport, new TextFrames(), capacity: 2);
        var running = RunAsync(outbox, transport);
        outbox.TryDeliver(new TextEvent("taken"));
        await transport.NextWriteAsync();

        // The transport never finishes its write; delivering still returns at once, on this thread.
        var accepted = await Task.Run(() => Enumerable.Range(0, 1002).Select(i => outbox.TryDeliver(new TextEvent($"queued {i}"))).ToArray()).WaitAsync(Patience);
        Assert.That(accepted[..2], Is.All.True);
        Assert.That(accepted[2..], Is.All.False);

        Assert.That(outbox.IsClosing, Is.True);
        Assert.That(outbox.CloseCode, Is.EqualTo(ConnectionOutbox.SlowReaderCode));
        Assert.That(outbox.CloseReason, Is.EqualTo("slow reader: outbound queue full"));

        transport.Release();
        await running.WaitAsync(Patience);
        Assert.That(transport.Frames, Is.EqualTo(new[] { "taken" }), "nothing queued behind a slow reader's close is sent");
        Assert.That(transport.Goodbye, Is.EqualTo((1008, "slow reader: outbound queue full")));
    }

    [Test]
    public async Task A_batch_is_one_item_that_goes_out_in_order_with_what_was_queued_around_it_and_counts_as_its_events()
    {
        var transport = new RecordingTransport(holdWrites: true);
        var frames = new TextFrames();
        var outbox = new ConnectionOutbox(transport, frames, capacity: 5);
        var running = RunAsync(outbox, transport);
        outbox.TryDeliver(new TextEvent("in flight"));
        await transport.NextWriteAsync();

        Assert.That(outbox.TryDeliver(ReplyOf("before")), Is.True);
        Assert.That(outbox.TryDeliverBatch([new TextEvent("m1"), new TextEvent(""), new TextEvent("m3")]), Is.True);
        Assert.That(outbox.TryDeliver(new TextEvent("after")), Is.True);
        Assert.That(outbox.WhenQueuedAtMostAsync(4, CancellationToken.None).IsCompleted, Is.False, "five queued: the batch counts as its three events");
        Assert.That(outbox.TryDeliverBatch([]), Is.True, "an empty batch queues nothing");
        Assert.That(outbox.IsClosing, Is.False, "five fit a capacity of five");

        transport.Release();
        Assert.That(await transport.NextWriteAsync(), Is.EqualTo(new[] { "before", "m1", "m3", "after" }), "one write, in order, the event shown as nothing left out");
        transport.Release();
        outbox.Close(1000, "", drain: true);
        await running.WaitAsync(Patience);
        Assert.That(transport.Frames, Is.EqualTo(new[] { "in flight", "before", "m1", "m3", "after" }));
    }

    [Test]
    public async Task A_room_batch_framed_once_for_its_format_goes_out_joined_with_what_was_queued_around_it()
    {
        var at = DateTimeOffset.FromUnixTimeMilliseconds(1_796_288_400_125);
        var batch = new EventBatch([.. Enumerable.Range(41, 3).Select(i => (ChatEvent)new RoomMessage("lobby", "foo", $"m{i}", i, at))]);
        var group = "{\"room\":\"lobby\",\"id\":41,\"ts\":1796288400125,\"messages\":[[\"foo\",\"m41\"],[\"foo\",\"m42\"],[\"foo\",\"m43\"]]}";
        var first = new RecordingTransport();
        var second = new RecordingTransport();
        var withReplies = new ConnectionOutbox(first, new JsonFrameEncoder(JsonFraming.Groups), capacity: 5);
        var alone = new ConnectionOutbox(second, new JsonFrameEncoder(JsonFraming.Groups), capacity: 3);
        Assert.That(withReplies.TryDeliver(ReplyOf("{\"pong\":true}")), Is.True);
        Assert.That(withReplies.TryDeliverBatch(batch), Is.True);
        Assert.That(withReplies.TryDeliver(ReplyOf("{\"ok\":true}")), Is.True);
        Assert.That(alone.TryDeliverBatch(batch), Is.True, "the batch counts as its three events");
        withReplies.Close(1000, "", drain: true);
        alone.Close(1000, "", drain: true);

        await Task.WhenAll(RunAsync(withReplies, first), RunAsync(alone, second)).WaitAsync(Patience);

        Assert.That(first.Frames, Is.EqualTo(new[] { "{\"pong\":true}\n" + group + "\n{\"ok\":true}" }));
        Assert.That(second.Frames, Is.EqualTo(new[] { group }));
    }

    [Test]
    public async Task A_batch_that_does_not_fit_closes_the_slow_reader_and_none_of_it_is_sent()
    {
        var transport = new RecordingTransport(holdWrites: true);
        var outbox = new ConnectionOutbox(transport, new TextFrames(), capacity: 4);
        var running = RunAsync(outbox, transport);
        outbox.TryDeliver(new TextEvent("in flight"));
        await transport.NextWriteAsync();
        Assert.That(outbox.TryDeliver(new TextEvent("queued")), Is.True);

        Assert.That(outbox.TryDeliverBatch([new TextEvent("b1"), new TextEvent("b2"), new TextEvent("b3"), new TextEvent("b4")]), Is.False, "1 + 4 > 4");
        Assert.That(outbox.CloseCode, Is.EqualTo(ConnectionOutbox.SlowReaderCode));
        Assert.That(outbox.CloseReason, Is.EqualTo(ConnectionOutbox.SlowReaderReason));
        Assert.That(outbox.TryDeliverBatch([new TextEvent("later")]), Is.False, "a closing outbox accepts nothing more");

        transport.Release();
        await running.WaitAsync(Patience);
        Assert.That(transport.Frames, Is.EqualTo(new[] { "in flight" }));
        Assert.That(transport.Goodbye, Is.EqualTo((ConnectionOutbox.SlowReaderCode, ConnectionOutbox.SlowReaderReason)));
    }

    [Test]
    public async Task A_batch_larger_than_one_write_goes_out_over_several_writes_in_order_with_nothing_lost()
    {
        var transport = new RecordingTransport();
        var outbox = new ConnectionOutbox(transport, new TextFrames(), capacity: 1024);
        var text = new string('x', 1000);
        var batch = Enumerable.Range(0, 300).Select(i => (TinyChat.Chat.ChatEvent)new TextEvent($"{i:D3}{text}")).ToArray();
        Assert.That(outbox.TryDeliverBatch(batch), Is.True);
        Assert.That(outbox.TryDeliver(new TextEvent("after")), Is.True);
        outbox.Close(1000, "", drain: true);

        await RunAsync(outbox, transport).WaitAsync(Patience);

        Assert.That(transport.Frames, Is.EqualTo(batch.Select(e => ((TextEvent)e).Text).Append("after")));
        Assert.That(transport.Writes, Has.Count.GreaterThanOrEqualTo(4), "about 300 KB in runs of about 64 KB");
        Assert.That(transport.Writes.Max(w => w.Sum(f => f.Length)), Is.LessThan(70_000), "no run grows far past the limit");
    }

    [Test]
    public async Task Closing_with_drain_sends_what_is_queued_before_the_goodbye()
    {
        var transport = new RecordingTransport(holdWrites: true);
        var outbox = new ConnectionOutbox(transport, new TextFrames(), capacity: 16);
        var running = RunAsync(outbox, transport);
        outbox.TryDeliver(new TextEvent("in flight"));
        await transport.NextWriteAsync();
        outbox.TryDeliver(new TextEvent("queued 1"));
        outbox.TryDeliver(ReplyOf("queued 2"));

        outbox.Close(1001, "server shutting down", drain: true);
        Assert.That(outbox.TryDeliver(new TextEvent("too late")), Is.False, "a closing outbox accepts nothing more");
        transport.Release();
        await transport.NextWriteAsync();
        transport.Release();
        await running.WaitAsync(Patience);

        Assert.That(transport.Frames, Is.EqualTo(new[] { "in flight", "queued 1", "queued 2" }));
        Assert.That(transport.Goodbye, Is.EqualTo((1001, "server shutting down")));
        Assert.That(transport.AbortCount, Is.Zero);
    }

    [Test]
    public async Task Closing_with_discard_drops_what_is_queued()
    {
        var transport = new RecordingTransport(holdWrites: true);
        var outbox = new ConnectionOutbox(transport, new TextFrames(), capacity: 16);
        var running = RunAsync(outbox, transport);
        outbox.TryDeliver(new TextEvent("in flight"));
        await transport.NextWriteAsync();
        outbox.TryDeliver(new TextEvent("queued 1"));
        outbox.TryDeliver(ReplyOf("queued 2"));

        outbox.Close(1008, "flooding", drain: false);
        outbox.Close(1001, "server shutting down", drain: true);
        transport.Release();
        await running.WaitAsync(Patience);

        Assert.That(transport.Frames, Is.EqualTo(new[] { "in flight" }));
        Assert.That(transport.Goodbye, Is.EqualTo((1008, "flooding")), "the first close wins");
        Assert.That(outbox.CloseCode, Is.EqualTo(1008));
    }

    [Test]
    public async Task When_the_receive_side_ends_the_rest_is_dropped_and_the_transport_closed()
    {
        var transport = new RecordingTransport(holdWrites: true);
        var outbox = new ConnectionOutbox(transport, new TextFrames(), capacity: 16);
        var peerGone = new TaskCompletionSource();
        var running = outbox.RunAsync(() => peerGone.Task);
        outbox.TryDeliver(new TextEvent("in flight"));
        await transport.NextWriteAsync();
        outbox.TryDeliver(new TextEvent("queued"));

        peerGone.SetResult();
        transport.Release();
        await running.WaitAsync(Patience);

        Assert.That(transport.Frames, Is.EqualTo(new[] { "in flight" }));
        Assert.That(outbox.CloseCode, Is.Null, "the server chose no close");
        Assert.That(outbox.TryDeliver(new TextEvent("after")), Is.False);
    }

    [TestCase(false)]
    [TestCase(true)]
    public async Task A_transport_stuck_after_a_close_is_aborted_after_the_grace(bool drain)
    {
        var clock = new ManualClock();
        var transport = new RecordingTransport(holdWrites: true);
        var outbox = new ConnectionOutbox(transport, new TextFrames(), capacity: 16, clock);
        var running = RunAsync(outbox, transport);
        outbox.TryDeliver(new TextEvent("never read"));
        await transport.NextWriteAsync();

        outbox.Close(drain ? 1001 : 1008, "closing", drain);
        var grace = drain ? ConnectionOutbox.DrainGrace : ConnectionOutbox.DiscardGrace;
        clock.Advance(grace - TimeSpan.FromMilliseconds(1));
        Assert.That(transport.AbortCount, Is.Zero, "still within the grace");

        clock.Advance(TimeSpan.FromMilliseconds(1));
        await transport.Aborted.WaitAsync(Patience);
        await running.WaitAsync(Patience);
        Assert.That(transport.Frames, Is.EqualTo(new[] { "never read" }));
        Assert.That(transport.Goodbye, Is.Null, "an aborted connection gets no goodbye");
        Assert.That(outbox.Closed.IsCompleted, Is.True);
    }

    [Test]
    public async Task A_connection_that_ends_within_the_grace_is_not_aborted()
    {
        var clock = new ManualClock();
        var transport = new RecordingTransport();
        var outbox = new ConnectionOutbox(transport, new TextFrames(), capacity: 16, clock);
        var running = RunAsync(outbox, transport);
        outbox.Close(1000, "", drain: false);
        await running.WaitAsync(Patience);

        clock.Advance(ConnectionOutbox.DrainGrace * 2);
        Assert.That(transport.AbortCount, Is.Zero);
        Assert.That(transport.Goodbye, Is.EqualTo((1000, "")));
    }

    [Test]
    public async Task An_event_is_encoded_once_for_every_outbox_that_shares_its_encoder()
    {
        var frames = new TextFrames();
        var shared = new TextEvent("to everyone");
        var transports = Enumerable.Range(0, 20).Select(_ => new RecordingTransport()).ToArray();
        var outboxes = transports.Select(t => new ConnectionOutbox(t, new SharedFrames(frames), capacity: 4)).ToArray();
        foreach (var outbox in outboxes)
        {
            outbox.TryDeliver(shared);
            outbox.Close(1000, "", drain: true);
        }

        await Task.WhenAll(outboxes.Select((o, i) => RunAsync(o, transports[i]))).WaitAsync(Patience);

        Assert.That(transports.Select(t => t.Frames.Single()), Is.All.EqualTo("to everyone"));
        Assert.That(frames.Encodes, Is.EqualTo(1));
    }

    // Per-connection framing over one shared event encoder, as a protocol's connections have it.
    private sealed class SharedFrames(TextFrames shared) : IFrameEncoder
    {
        public TinyChat.Chat.IEventEncoder Events => shared;

        public void Frame(IReadOnlyList<ReadOnlyMemory<byte>> items, List<ReadOnlyMemory<byte>> frames) => frames.AddRange(items);

        public void Dispose()
        {
        }
    }
}
