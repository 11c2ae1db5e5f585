using System.Diagnostics;
using System.Net.WebSockets;
using TinyChat.Bench.Client;

namespace TinyChat.Bench.Scenarios;

/// <summary>The traffic loops shared by the scenarios: windowed and paced senders, and waiting for deliveries to drain.</summary>
public static class Flow
{
    private const long MaxMessagesPerSender = 50_000_000;

    /// <summary>What the members saw, summed.</summary>
    public sealed record Integrity(long Received, long Expected, long Lost, long Duplicated, long Reordered, long Errors, string? FirstError);

    /// <summary>
    /// Sends as fast as the sender's window allows (a slot frees when its own echo, or acknowledgement, comes back)
    /// for <paramref name="duration"/>. Stops at the deadline without cancelling a send in progress (that would abort the socket).
    /// </summary>
    public static async Task SendWindowedAsync(
        BenchSocket socket, Traffic traffic, int sender, string room, TimeSpan duration, bool withRef, CancellationToken hardStop, bool phoenix = false)
    {
        var frame = new byte[Probe.FrameCapacity(room, 0)];
        var window = traffic.Windows[sender];
        // One deadline for the whole run: a timed WaitAsync would start a timer each time the window is full, which
        // was a tenth of the bench's CPU in the durable room (every target pays the same loop, so it only lowers the
        // bench's own cost).
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(hardStop);
        deadline.CancelAfter(duration);
        try
        {
            for (long sequence = 1; sequence <= MaxMessagesPerSender; sequence++)
            {
                if (deadline.IsCancellationRequested)
                {
                    return;
                }

                if (!window.Wait(0))
                {
                    await window.WaitAsync(deadline.Token).ConfigureAwait(false);
                }

                var now = Stopwatch.GetTimestamp();
                Volatile.Write(ref traffic.SendTimes[sender][Traffic.Slot(sequence)], now);
                var length = phoenix ? Probe.WritePhoenixFrame(frame, room, sender, sequence, now) : Probe.WriteFrame(frame, room, sender, sequence, now, 0, withRef);
                await socket.SendAsync(frame.AsMemory(0, length), hardStop).ConfigureAwait(false);
                Volatile.Write(ref traffic.Sent[sender], sequence);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException or ObjectDisposedException)
        {
            // The hard stop, or the server closed this sender: the members' counts show what it did.
        }
    }

    /// <summary>
    /// Sends at a fixed rate: sender <paramref name="sender"/> of <paramref name="senders"/> takes every n-th slot of
    /// <paramref name="rate"/> messages/s between <paramref name="start"/> and <paramref name="end"/> (Stopwatch timestamps).
    /// The timestamp in the text is the moment of sending.
    /// </summary>
    public static async Task SendPacedAsync(
        BenchSocket socket, Traffic traffic, int sender, int senders, string room, int rate, long start, long end, int padding, CancellationToken hardStop)
    {
        var frame = new byte[Probe.FrameCapacity(room, padding)];
        var interval = Stopwatch.Frequency / (double)rate;
        try
        {
            for (long k = 0; k < MaxMessagesPerSender; k++)
            {
                var due = start + (long)(((k * senders) + sender) * interval);
                if (due >= end)
                {
                    return;
                }

                var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, hardStop).ConfigureAwait(false);
                }

                var sequence = k + 1;
                var length = Probe.WriteFrame(frame, room, sender, sequence, Stopwatch.GetTimestamp(), padding, withRef: false);
                await socket.SendAsync(frame.AsMemory(0, length), hardStop).ConfigureAwait(false);
                Volatile.Write(ref traffic.Sent[sender], sequence);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or WebSocketException or IOException or ObjectDisposedException)
        {
        }
    }

    /// <summary>
    /// Waits until every member has received every message of its room's senders, or <paramref name="limit"/> passes.
    /// Returns when the last delivery was seen (Stopwatch timestamp).
    /// </summary>
    public static async Task<long> DrainAsync(IReadOnlyList<Member?> members, TimeSpan limit, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        long lastCount = -1;
        var lastProgress = Stopwatch.GetTimestamp();
        while (clock.Elapsed < limit && !cancellationToken.IsCancellationRequested)
        {
            long received = 0;
            long expected = 0;
            foreach (var member in members)
            {
                if (member is not null)
                {
                    received += member.Received;
                    expected += member.Expected();
                }
            }

            if (received != lastCount)
            {
                lastCount = received;
                lastProgress = Stopwatch.GetTimestamp();
            }

            if (received >= expected)
            {
                break;
            }

            await Task.Delay(20, CancellationToken.None).ConfigureAwait(false);
        }

        return lastProgress;
    }

    /// <summary>Sums what the members saw.</summary>
    public static Integrity Check(IReadOnlyList<Member?> members)
    {
        long received = 0, expected = 0, lost = 0, duplicated = 0, reordered = 0, errors = 0;
        string? firstError = null;
        foreach (var member in members)
        {
            if (member is null)
            {
                continue;
            }

            received += member.Received;
            expected += member.Expected();
            lost += member.Lost();
            duplicated += member.Duplicates;
            reordered += member.Reordered;
            errors += member.Errors;
            firstError ??= member.FirstError;
        }

        return new Integrity(received, expected, lost, duplicated, reordered, errors, firstError);
    }
}
