using System.Buffers.Text;
using System.Text;

namespace TinyChat.Bench.Client;

/// <summary>
/// The text the bench sends: <c>m{sender}.{sequence}.{timestamp}</c>, then optional padding. The sender id and
/// sequence let every receiver check exactly-once and per-sender order; the timestamp is a
/// <see cref="System.Diagnostics.Stopwatch"/> reading (sender and receivers share one clock: one process).
/// </summary>
public static class Probe
{
    private static readonly byte[] Marker = "\"message\":\"m"u8.ToArray();

    // The same text in a Phoenix new_msg payload ({"id","user","body","inserted_at"}).
    private static readonly byte[] PhoenixMarker = "\"body\":\"m"u8.ToArray();

    // A batch=2 group: {"room":R,"id":N,"ts":MS,"messages":[[FROM,TEXT],...]}; a probe text follows its sender's name.
    private static readonly byte[] GroupKey = ",\"messages\":[["u8.ToArray();
    private static readonly byte[] GroupedMarker = "\",\"m"u8.ToArray();

    /// <summary>What a receiver learns from one line.</summary>
    public readonly record struct Reading(int Sender, long Sequence, long Timestamp);

    /// <summary>Writes <c>{"room":R,"message":TEXT[,"ref":SEQ]}</c> into <paramref name="frame"/>; the bytes written.</summary>
    public static int WriteFrame(byte[] frame, string room, int sender, long sequence, long timestamp, int padding, bool withRef)
    {
        var span = frame.AsSpan();
        var n = Copy(span, "{\"room\":\""u8);
        n += Encoding.ASCII.GetBytes(room, span[n..]);
        n += Copy(span[n..], "\",\"message\":\"m"u8);
        n += Format(span[n..], sender);
        span[n++] = (byte)'.';
        n += Format(span[n..], sequence);
        span[n++] = (byte)'.';
        n += Format(span[n..], timestamp);
        if (padding > 0)
        {
            span[n++] = (byte)'.';
            span.Slice(n, padding).Fill((byte)'x');
            n += padding;
        }

        span[n++] = (byte)'"';
        if (withRef)
        {
            n += Copy(span[n..], ",\"ref\":"u8);
            n += Format(span[n..], sequence);
        }

        span[n++] = (byte)'}';
        return n;
    }

    /// <summary>
    /// Writes the Phoenix push of the same text, <c>["1",null,"room:R","new_msg",{"body":TEXT}]</c> (vsn 2.0.0, join_ref
    /// of <see cref="PhoenixJoin"/>, no ref: like the native frames, nobody waits for the reply); the bytes written.
    /// </summary>
    public static int WritePhoenixFrame(byte[] frame, string room, int sender, long sequence, long timestamp)
    {
        var span = frame.AsSpan();
        var n = Copy(span, "[\"1\",null,\"room:"u8);
        n += Encoding.ASCII.GetBytes(room, span[n..]);
        n += Copy(span[n..], "\",\"new_msg\",{\"body\":\"m"u8);
        n += Format(span[n..], sender);
        span[n++] = (byte)'.';
        n += Format(span[n..], sequence);
        span[n++] = (byte)'.';
        n += Format(span[n..], timestamp);
        n += Copy(span[n..], "\"}]"u8);
        return n;
    }

    /// <summary>The Phoenix join of a room's topic (join_ref and ref "1").</summary>
    public static string PhoenixJoin(string room) => $"[\"1\",\"1\",\"room:{room}\",\"phx_join\",{{}}]";

    /// <summary>Bytes a frame needs at most.</summary>
    public static int FrameCapacity(string room, int padding) => 128 + room.Length + padding;

    /// <summary>Reads a probe out of a line; false for any other line (welcome, reply, error).</summary>
    public static bool TryRead(ReadOnlySpan<byte> line, out Reading reading)
    {
        reading = default;
        var at = line.IndexOf(Marker);
        var marker = Marker;
        if (at < 0)
        {
            at = line.IndexOf(PhoenixMarker);
            marker = PhoenixMarker;
            if (at < 0)
            {
                return false;
            }
        }

        return TryParseText(line[(at + marker.Length)..], out reading);
    }

    // The text after its leading 'm': {sender}.{sequence}.{timestamp}...
    private static bool TryParseText(ReadOnlySpan<byte> rest, out Reading reading)
    {
        reading = default;
        if (!Utf8Parser.TryParse(rest, out int sender, out var used) || used >= rest.Length || rest[used] != '.')
        {
            return false;
        }

        rest = rest[(used + 1)..];
        if (!Utf8Parser.TryParse(rest, out long sequence, out used) || used >= rest.Length || rest[used] != '.')
        {
            return false;
        }

        rest = rest[(used + 1)..];
        if (!Utf8Parser.TryParse(rest, out long timestamp, out _))
        {
            return false;
        }

        reading = new Reading(sender, sequence, timestamp);
        return true;
    }

    /// <summary>
    /// Reads the probes of a line one after the other: the one of a message object, or each of a batch=2 group's
    /// messages. Start with <paramref name="position"/> 0; false once there is none left.
    /// </summary>
    public static bool TryReadNext(ReadOnlySpan<byte> line, ref int position, out Reading reading)
    {
        reading = default;
        if (position < 0)
        {
            return false;
        }

        if (position == 0)
        {
            var group = line.StartsWith("{\"room\""u8) ? line.IndexOf(GroupKey) : -1;
            if (group < 0)
            {
                position = -1;
                return TryRead(line, out reading);
            }

            position = group + GroupKey.Length;
        }

        while (true)
        {
            var at = line[position..].IndexOf(GroupedMarker);
            if (at < 0)
            {
                position = -1;
                return false;
            }

            position += at + GroupedMarker.Length;
            if (TryParseText(line[position..], out reading))
            {
                return true;
            }
        }
    }

    /// <summary>True for an acknowledgement line <c>{"ok":true,...}</c>.</summary>
    public static bool IsAck(ReadOnlySpan<byte> line) => line.StartsWith("{\"ok\":true"u8);

    /// <summary>True for an error line.</summary>
    public static bool IsError(ReadOnlySpan<byte> line) => line.StartsWith("{\"error\""u8) || (line.StartsWith("["u8) && line.IndexOf("\"status\":\"error\""u8) >= 0);

    private static int Copy(Span<byte> destination, ReadOnlySpan<byte> source)
    {
        source.CopyTo(destination);
        return source.Length;
    }

    private static int Format(Span<byte> destination, long value)
    {
        if (!Utf8Formatter.TryFormat(value, destination, out var written))
        {
            throw new InvalidOperationException("probe frame buffer too small");
        }

        return written;
    }
}
