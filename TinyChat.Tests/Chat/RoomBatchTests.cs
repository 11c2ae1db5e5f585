using TinyChat.Chat;

namespace TinyChat.Tests.Chat;

public sealed class RoomBatchTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 9, 0, 0, TimeSpan.Zero);

    private static NewRoomMessage Message(string text) => new("alice", text, T0);

    [Test]
    public void A_batch_takes_messages_in_order_until_closed_and_never_changes_after()
    {
        var batch = new RoomBatch([Message("one")]);
        Assert.That(batch.TryAdd(Message("two")), Is.True);
        var closed = batch.Close();
        Assert.That(batch.TryAdd(Message("three")), Is.False, "closed: the post starts the next batch");
        Assert.That((batch.IsOpen, batch.Count), Is.EqualTo((false, 2)));
        Assert.That(closed.Select(m => m.Text), Is.EqualTo(new[] { "one", "two" }));
        Assert.That(batch.Close(), Is.SameAs(closed), "closing again (a retried write) gives the same messages");
    }

    [Test]
    public void A_full_batch_takes_no_more_even_while_open()
    {
        var batch = new RoomBatch([Message("one")], capacity: 2);
        Assert.That(batch.TryAdd(Message("two")), Is.True);
        Assert.That(batch.IsOpen, Is.False, "full");
        Assert.That(batch.TryAdd(Message("three")), Is.False);
        Assert.That(batch.Close().Select(m => m.Text), Is.EqualTo(new[] { "one", "two" }));
    }

    [Test]
    public void A_capacity_below_one_is_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => _ = new RoomBatch([], capacity: 0));
    }
}
