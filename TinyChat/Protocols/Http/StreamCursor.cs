using System.Buffers.Text;
using System.Globalization;
using System.Text;
using TinyChat.Chat;

namespace TinyChat.Protocols.Http;

/// <summary>
/// Where a user's <c>/api/events</c> stream stands, exactly: the last message id it delivered in each room it
/// shows, the last private message id (a user's private messages reach their streams in id order, see
/// <see cref="PrivateOrder"/>), and when the stream first started (for rooms joined since, which have no entry).
/// Each message on the stream carries the cursor as it stands after that message as its <c>id:</c>, so the
/// client's <c>Last-Event-ID</c> says what it has in every room at once. Written
/// <c>c1~STARTMS~PRIVATE~ROOM:ID~ROOM:ID...</c> (rooms sorted; <c>~</c> and <c>:</c> are never in a room name).
/// Opaque to clients; mutated only by the stream's writer loop once the stream runs.
/// </summary>
public sealed class StreamCursor
{
    private const string Version = "c1";

    // Bounds what a client can make the server hold and replay: at most this many rooms.
    private const int MaxRooms = 1000;

    private readonly Dictionary<string, long> rooms = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long>.AlternateLookup<ReadOnlySpan<char>> byName;

    // The room names in text order; rebuilt only when a room is added or dropped.
    private string[] order = [];

    /// <summary>A cursor of a stream that starts at <paramref name="startedAtMs"/> (Unix ms).</summary>
    public StreamCursor(long startedAtMs, long privateId)
    {
        StartedAtMs = startedAtMs;
        Private = privateId;
        byName = rooms.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>When the stream first started (Unix ms): a room without an entry is caught up from then.</summary>
    public long StartedAtMs { get; }

    /// <summary>The last private message id delivered (every one of the user's up to it).</summary>
    public long Private { get; private set; }

    /// <summary>The last id delivered per room.</summary>
    public IReadOnlyDictionary<string, long> Rooms => rooms;

    /// <summary>The room's last id delivered, or null when the cursor has no entry for it.</summary>
    public long? RoomPosition(string room) => rooms.TryGetValue(room, out var id) ? id : null;

    /// <summary>Records a delivered room message (positions only move forward). Allocates only for a room new to the cursor.</summary>
    public void Delivered(ReadOnlySpan<char> room, long id)
    {
        if (byName.TryGetValue(room, out var known))
        {
            if (known < id)
            {
                byName[room] = id;
            }

            return;
        }

        rooms[room.ToString()] = id;
        order = [.. rooms.Keys.Order(StringComparer.Ordinal)];
    }

    /// <summary>Records a delivered private message.</summary>
    public void DeliveredPrivate(long id) => Private = Math.Max(Private, id);

    /// <summary>Keeps only the entries of <paramref name="shown"/> (rooms left since are forgotten).</summary>
    public void KeepOnly(IReadOnlyCollection<string> shown)
    {
        foreach (var room in rooms.Keys.Where(r => !shown.Contains(r)).ToList())
        {
            rooms.Remove(room);
        }

        order = [.. rooms.Keys.Order(StringComparer.Ordinal)];
    }

    /// <summary>Appends the cursor's text as ASCII bytes, without allocating.</summary>
    public void WriteTo(List<byte> into)
    {
        Append(into, Version);
        into.Add((byte)'~');
        Append(into, StartedAtMs);
        into.Add((byte)'~');
        Append(into, Private);
        foreach (var room in order)
        {
            into.Add((byte)'~');
            Append(into, room);
            into.Add((byte)':');
            Append(into, rooms[room]);
        }
    }

    /// <inheritdoc />
    public override string ToString()
    {
        var bytes = new List<byte>();
        WriteTo(bytes);
        return Encoding.ASCII.GetString([.. bytes]);
    }

    /// <summary>Parses a cursor this server wrote; false for anything else.</summary>
    public static bool TryParse(string? text, out StreamCursor cursor)
    {
        cursor = null!;
        var parts = text?.Split('~');
        if (parts is null || parts.Length < 3 || parts.Length - 3 > MaxRooms || parts[0] != Version
            || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var started)
            || !long.TryParse(parts[2], NumberStyles.None, CultureInfo.InvariantCulture, out var privateId))
        {
            return false;
        }

        var parsed = new StreamCursor(started, privateId);
        foreach (var part in parts.AsSpan(3))
        {
            var colon = part.LastIndexOf(':');
            if (colon <= 0
                || ChatNames.CheckRoomName(part[..colon]) is not null
                || !long.TryParse(part.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                || parsed.rooms.ContainsKey(part[..colon]))
            {
                return false;
            }

            parsed.rooms[part[..colon]] = id;
        }

        parsed.order = [.. parsed.rooms.Keys.Order(StringComparer.Ordinal)];
        cursor = parsed;
        return true;
    }

    private static void Append(List<byte> into, long number)
    {
        Span<byte> digits = stackalloc byte[20];
        Utf8Formatter.TryFormat(number, digits, out var written);
        into.AddRange(digits[..written]);
    }

    private static void Append(List<byte> into, string ascii)
    {
        foreach (var c in ascii)
        {
            into.Add((byte)c);
        }
    }
}
