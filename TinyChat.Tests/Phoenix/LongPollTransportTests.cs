using System.Text;
using TinyChat.Protocols.Phoenix;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Phoenix;

/// <summary>The long-poll send side: frames wait for the next poll, a poll waits for a window, a full buffer makes the writer wait.</summary>
public sealed class LongPollTransportTests
{
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(5);

    private static ReadOnlyMemory<byte> Frame(string text) => Encoding.UTF8.GetBytes(text);

    [Test]
    public async Task A_poll_takes_every_frame_waiting_in_order()
    {
        var transport = new LongPollTransport(8, new ManualClock());
        await transport.WriteAsync(Frame("a"), CancellationToken.None);
        await transport.WriteManyAsync([Frame("b"), Frame("c")], CancellationToken.None);

        var taken = await transport.TakeAsync(Window, CancellationToken.None).WaitAsync(Bound);

        Assert.That(taken!.Select(f => Encoding.UTF8.GetString(f)), Is.EqualTo(new[] { "a", "b", "c" }));
    }

    [Test]
    public async Task A_poll_waits_for_a_frame_and_is_empty_when_the_window_passes()
    {
        var clock = new ManualClock();
        var transport = new LongPollTransport(8, clock);

        var waiting = transport.TakeAsync(Window, CancellationToken.None);
        Assert.That(waiting.IsCompleted, Is.False);
        await transport.WriteAsync(Frame("late"), CancellationToken.None);
        Assert.That((await waiting.WaitAsync(Bound))!.Count, Is.EqualTo(1));

        var idle = transport.TakeAsync(Window, CancellationToken.None);
        clock.Advance(Window);
        Assert.That(await idle.WaitAsync(Bound), Is.Empty);
    }

    [Test]
    public async Task A_full_buffer_makes_the_writer_wait_until_a_poll_and_a_closed_session_answers_null()
    {
        var transport = new LongPollTransport(1, new ManualClock());
        await transport.WriteAsync(Frame("1"), CancellationToken.None);

        var blocked = transport.WriteAsync(Frame("2"), CancellationToken.None).AsTask();
        Assert.That(blocked.IsCompleted, Is.False);
        Assert.That((await transport.TakeAsync(Window, CancellationToken.None).WaitAsync(Bound))!.Count, Is.EqualTo(1));
        await blocked.WaitAsync(Bound);

        await transport.CloseAsync(1000, "", CancellationToken.None);
        Assert.That((await transport.TakeAsync(Window, CancellationToken.None).WaitAsync(Bound))!.Count, Is.EqualTo(1), "what was queued is still taken");
        Assert.That(await transport.TakeAsync(Window, CancellationToken.None).WaitAsync(Bound), Is.Null);
        Assert.ThrowsAsync<IOException>(async () => await transport.WriteAsync(Frame("3"), CancellationToken.None));
    }
}
