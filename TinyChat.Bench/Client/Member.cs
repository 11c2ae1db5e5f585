using TinyChat.Bench.Measuring;

namespace TinyChat.Bench.Client;

/// <summary>The traffic of one measurement, shared by its members and senders.</summary>
public sealed class Traffic
{
    private const int SendTimeSlots = 4096;

    /// <summary>Sets up <paramref name="senders"/> senders, each allowed <paramref name="window"/> messages in flight.</summary>
    public Traffic(int senders, int window, bool releaseOnAck)
    {
        ReleaseOnAck = releaseOnAck;
        Windows = [.. Enumerable.Range(0, senders).Select(_ => new SemaphoreSlim(window, int.MaxValue))];
        Sent = new long[senders];
        SendTimes = [.. Enumerable.Range(0, senders).Select(_ => new long[SendTimeSlots])];
    }

    /// <summary>A sender's window opens again on its acknowledgement (<c>{"ok":true}</c>) rather than on its own echo.</summary>
    public bool ReleaseOnAck { get; }

    /// <summary>Per sender: free slots of its in-flight window.</summary>
    public SemaphoreSlim[] Windows { get; }

    /// <summary>Per sender: messages written to the socket (only that sender's loop writes it).</summary>
    public long[] Sent { get; }

    /// <summary>Per sender: send timestamps by sequence (modulo the slots), for acknowledgement latency.</summary>
    public long[][] SendTimes { get; }

    /// <summary>Send-to-receive latency of every delivery stamped at or after <see cref="RecordFrom"/>; null: not measured.</summary>
    public LatencyHistogram? Latency { get; init; }

    /// <summary>Send-to-acknowledgement latency; null: not measured.</summary>
    public LatencyHistogram? AckLatency { get; init; }

    /// <summary>Stopwatch timestamp from which latencies count (after the warm-up).</summary>
    public long RecordFrom { get; set; }

    /// <summary>The send time slot of a sequence number.</summary>
    public static int Slot(long sequence) => (int)(sequence % SendTimeSlots);
}

/// <summary>
/// One receiving connection's bookkeeping: checks that every sender's messages arrive exactly once and in order,
/// records latencies, and opens its own sender's window when its echo (or acknowledgement) comes back.
/// Only that connection's receive loop calls <see cref="OnLine"/>; other threads read the counters when it is done.
/// </summary>
public sealed class Member(Traffic traffic, int sender, int[] roomSenders) : ILineHandler
{
    private const int MaxGapTracked = 100_000;
    private readonly long[] next = Enumerable.Repeat(1L, traffic.Sent.Length).ToArray();
    private readonly HashSet<long>?[] missing = new HashSet<long>?[traffic.Sent.Length];
    private long received;
    private long untrackedLost;

    /// <summary>This member's sender id, or -1 when it only listens.</summary>
    public int Sender { get; } = sender;

    /// <summary>The senders whose messages this member must receive (the senders of its room).</summary>
    public int[] RoomSenders { get; } = roomSenders;

    /// <summary>Distinct probe messages received (read from other threads while running).</summary>
    public long Received => Volatile.Read(ref received);

    /// <summary>Messages received again.</summary>
    public long Duplicates { get; private set; }

    /// <summary>Messages that arrived after a later message of the same sender.</summary>
    public long Reordered { get; private set; }

    /// <summary>Error lines received.</summary>
    public long Errors { get; private set; }

    /// <summary>The first error line, for the report.</summary>
    public string? FirstError { get; private set; }

    /// <summary>Acknowledgements received.</summary>
    public long Acks { get; private set; }

    /// <inheritdoc />
    public void OnLine(ReadOnlySpan<byte> line, long receivedAt)
    {
        var position = 0;
        var probes = 0;
        while (Probe.TryReadNext(line, ref position, out var reading))
        {
            OnProbe(reading, receivedAt);
            probes++;
        }

        if (probes > 0)
        {
            return;
        }

        if (Probe.IsAck(line))
        {
            Acks++;
            if (traffic.ReleaseOnAck && Sender >= 0)
            {
                if (traffic.AckLatency is { } acks && TryReadRef(line, out var sequence))
                {
                    acks.Record(Volatile.Read(ref traffic.SendTimes[Sender][Traffic.Slot(sequence)]), receivedAt);
                }

                traffic.Windows[Sender].Release();
            }
        }
        else if (Probe.IsError(line))
        {
            Errors++;
            FirstError ??= System.Text.Encoding.UTF8.GetString(line);
        }
    }

    /// <summary>Messages of this member's room that it never received, given what each sender sent.</summary>
    public long Lost()
    {
        var lost = untrackedLost;
        foreach (var s in RoomSenders)
        {
            var unique = next[s] - 1 - (missing[s]?.Count ?? 0);
            lost += Math.Max(0, Volatile.Read(ref traffic.Sent[s]) - unique);
        }

        return lost;
    }

    /// <summary>Messages of this member's room sent so far.</summary>
    public long Expected()
    {
        long expected = 0;
        foreach (var s in RoomSenders)
        {
            expected += Volatile.Read(ref traffic.Sent[s]);
        }

        return expected;
    }

    private void OnProbe(Probe.Reading reading, long receivedAt)
    {
        var s = reading.Sender;
        if ((uint)s >= (uint)next.Length)
        {
            Errors++;
            return;
        }

        if (traffic.Latency is { } latency && reading.Timestamp >= traffic.RecordFrom)
        {
            latency.Record(reading.Timestamp, receivedAt);
        }

        var sequence = reading.Sequence;
        var expected = next[s];
        if (sequence == expected)
        {
            next[s] = expected + 1;
            Volatile.Write(ref received, received + 1);
        }
        else if (sequence > expected)
        {
            // A gap: the skipped ones are lost unless they turn up later (then they count as reordered).
            var gap = missing[s] ??= [];
            for (var q = expected; q < sequence; q++)
            {
                if (gap.Count < MaxGapTracked)
                {
                    gap.Add(q);
                }
                else
                {
                    untrackedLost++;
                }
            }

            next[s] = sequence + 1;
            Volatile.Write(ref received, received + 1);
        }
        else if (missing[s]?.Remove(sequence) == true)
        {
            Reordered++;
            Volatile.Write(ref received, received + 1);
        }
        else
        {
            Duplicates++;
            return;
        }

        if (s == Sender && !traffic.ReleaseOnAck)
        {
            traffic.Windows[s].Release();
        }
    }

    private static bool TryReadRef(ReadOnlySpan<byte> line, out long sequence)
    {
        sequence = 0;
        var at = line.IndexOf("\"ref\":"u8);
        return at >= 0 && System.Buffers.Text.Utf8Parser.TryParse(line[(at + 6)..], out sequence, out _);
    }
}
