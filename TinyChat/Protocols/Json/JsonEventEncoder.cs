using System.Buffers;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using TinyChat.Chat;

namespace TinyChat.Protocols.Json;

/// <summary>Encodes chat events as the native protocol's JSON objects (see docs/protocol.md).</summary>
public sealed class JsonEventEncoder : IEventEncoder
{
    /// <summary>Text stays readable (no \u escapes for non-ASCII); quotes and control characters are still escaped, so a frame never holds a raw newline.</summary>
    public static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    private const string TimestampFormat = "yyyy-MM-dd'T'HH:mm:ss.fff'Z'";

    // A thread keeps its writer's buffer only up to this size (a long history page is not held on to).
    private const int MaxSpareBytes = 64 * 1024;

    [ThreadStatic]
    private static ArrayBufferWriter<byte>? spareBuffer;

    [ThreadStatic]
    private static Utf8JsonWriter? spareWriter;

    private JsonEventEncoder()
    {
    }

    /// <summary>The one instance: every connection of the protocol shares it, so an event is encoded once for all.</summary>
    public static JsonEventEncoder Instance { get; } = new();

    /// <inheritdoc />
    public ReadOnlyMemory<byte> Encode(ChatEvent chatEvent) => chatEvent switch
    {
        // Not a lambda that captures: this is once per message, and a capture here would be made for every event.
        RoomMessage message => Build(message, WriteRoomMessage),
        PrivateMessage message => Build(message, WritePrivateMessage),
        PresenceState state => Build(w => WritePresenceState(w, state)),
        PresenceCount count => Build(w => WritePresenceCount(w, count.Room, count.Online)),

        // A room crossing Presence:FullStateMaxMembers: hiding the list is said by the presence_count that follows;
        // showing it again is the whole list, as a presence_state.
        PresenceDiff { Relisting: true } diff => diff.Joins.Count == 0
            ? ReadOnlyMemory<byte>.Empty
            : Build(w => WritePresenceState(w, new PresenceState(diff.Room, diff.Joins))),
        PresenceDiff diff => Build(w =>
        {
            w.WriteStartObject();
            w.WriteString("room", diff.Room);
            w.WriteStartObject("presence_diff");
            WritePresenceEntries(w, "joins", diff.Joins);
            WritePresenceEntries(w, "leaves", diff.Leaves);
            w.WriteEndObject();
            w.WriteEndObject();
        }),
        TypingNotice typing => Build(w =>
        {
            w.WriteStartObject();
            if (typing.Room is not null)
            {
                w.WriteString("room", typing.Room);
            }
            else
            {
                w.WriteString("to", typing.To);
            }

            w.WriteString("typing", typing.User);
            w.WriteEndObject();
        }),
        MentionNotice mention => Build(w =>
        {
            w.WriteStartObject();
            w.WritePropertyName("mention");
            WriteMention(w, mention);
            w.WriteEndObject();
        }),
        ReadMarker read => Build(w =>
        {
            w.WriteStartObject();
            w.WritePropertyName("read");
            WriteRead(w, read);
            w.WriteEndObject();
        }),

        // The native protocol shows a user once, however many connections (docs/protocol.md, Presence).
        PresenceConnectionDiff => ReadOnlyMemory<byte>.Empty,
        _ => throw new NotSupportedException($"no JSON encoding for {chatEvent.GetType().Name}"),
    };

    /// <summary>Encodes one object written by <paramref name="write"/> into an exact-size array.</summary>
    public static byte[] Build(Action<Utf8JsonWriter> write) => Build(write, static (w, write) => write(w));

    /// <summary>Encodes one object written by <paramref name="write"/> from <paramref name="state"/> into an exact-size array.</summary>
    public static byte[] Build<TState>(TState state, Action<Utf8JsonWriter, TState> write)
    {
        // One writer and buffer per thread, reused (every message is encoded once, and a writer with its buffer was
        // most of what that allocated); taken while in use, so a Build inside a Build gets new ones.
        var buffer = spareBuffer ?? new ArrayBufferWriter<byte>(256);
        var writer = spareWriter ?? new Utf8JsonWriter(buffer, WriterOptions);
        spareBuffer = null;
        spareWriter = null;
        try
        {
            writer.Reset(buffer);
            write(writer, state);
            writer.Flush();
            return buffer.WrittenSpan.ToArray();
        }
        finally
        {
            buffer.ResetWrittenCount();
            if (buffer.Capacity <= MaxSpareBytes)
            {
                spareBuffer = buffer;
                spareWriter = writer;
            }
        }
    }

    /// <summary>
    /// <c>{"room","from","message","id","ts"}</c>: live and in history (where an edited message adds <c>edited</c>
    /// and a deleted one is <c>deleted:true</c> without <c>message</c>); a room event adds <c>event</c> and its fields.
    /// </summary>
    public static void WriteRoomMessage(Utf8JsonWriter w, RoomMessage m)
    {
        w.WriteStartObject();
        w.WriteString("room", m.Room);
        if (m.Kind is { } kind)
        {
            WriteRoomEventFields(w, m, kind);
        }
        else
        {
            w.WriteString("from", m.From);
            if (m.Deleted)
            {
                w.WriteBoolean("deleted", true);
            }
            else
            {
                w.WriteString("message", m.Text);
            }

            if (m.EditedAt is { } edited && !m.Deleted)
            {
                w.WriteString("edited", Timestamp(edited));
            }
        }

        w.WriteNumber("id", m.Id);
        WriteTimestamp(w, "ts", m.Timestamp);
        w.WriteEndObject();
    }

    private static void WriteRoomEventFields(Utf8JsonWriter w, RoomMessage m, string kind)
    {
        w.WriteString("event", kind);
        w.WriteString("from", m.From);
        if (m.Target is { } target)
        {
            w.WriteString("user", target);
        }

        switch (kind)
        {
            case RoomEventKind.Edit:
                w.WriteNumber("message_id", m.RefersTo ?? 0);
                w.WriteString("message", m.Text);
                break;
            case RoomEventKind.Delete:
                w.WriteNumber("message_id", m.RefersTo ?? 0);
                break;
            case RoomEventKind.Mute when m.Until is { } until:
                w.WriteString("until", Timestamp(until));
                break;
            case RoomEventKind.Role:
                w.WriteString("role", m.Text);
                break;
            case RoomEventKind.Topic:
                w.WriteString("topic", m.Text);
                break;
        }
    }

    /// <summary><c>{"room","from","id","ts","message"}</c>: a mention, with the start of the message's text.</summary>
    public static void WriteMention(Utf8JsonWriter w, MentionNotice m)
    {
        w.WriteStartObject();
        w.WriteString("room", m.Room);
        w.WriteString("from", m.From);
        w.WriteNumber("id", m.Id);
        w.WriteString("ts", Timestamp(m.Timestamp));
        w.WriteString("message", m.Excerpt);
        w.WriteEndObject();
    }

    /// <summary><c>{"room","id","unread","mentions"}</c> or <c>{"with","id","unread"}</c>: where the user stands now.</summary>
    public static void WriteRead(Utf8JsonWriter w, ReadMarker m)
    {
        w.WriteStartObject();
        if (m.Room is { } room)
        {
            w.WriteString("room", room);
        }
        else
        {
            w.WriteString("with", m.With);
        }

        w.WriteNumber("id", m.Position);
        w.WriteNumber("unread", m.Unread);
        if (m.Room is not null)
        {
            w.WriteNumber("mentions", m.Mentions);
        }

        w.WriteEndObject();
    }

    /// <summary><c>{"to","from","message","id","ts"}</c>: live and in history.</summary>
    public static void WritePrivateMessage(Utf8JsonWriter w, PrivateMessage m)
    {
        w.WriteStartObject();
        w.WriteString("to", m.To);
        w.WriteString("from", m.From);
        w.WriteString("message", m.Text);
        w.WriteNumber("id", m.Id);
        WriteTimestamp(w, "ts", m.Timestamp);
        w.WriteEndObject();
    }

    /// <summary>
    /// <c>{"room","presence_state":{USER:{"online_at","connections"}}}</c>; a page adds <c>"online"</c> (how many in
    /// all) and <c>"next"</c>; a room too big to list is <c>{"room","presence_count":{"online"}}</c>.
    /// </summary>
    public static void WritePresenceState(Utf8JsonWriter w, PresenceState state, byte[]? reference = null)
    {
        if (state.Counted)
        {
            WritePresenceCount(w, state.Room, state.Total, reference);
            return;
        }

        w.WriteStartObject();
        w.WriteString("room", state.Room);
        WritePresenceEntries(w, "presence_state", state.Online);
        if (state.Paged)
        {
            w.WriteNumber("online", state.Total);
            if (state.Next is { } next)
            {
                w.WriteString("next", next);
            }
            else
            {
                w.WriteNull("next");
            }
        }

        if (reference is not null)
        {
            w.WritePropertyName("ref");
            w.WriteRawValue(reference, skipInputValidation: true);
        }

        w.WriteEndObject();
    }

    /// <summary><c>{"room","presence_count":{"online":N}}</c>: how many are online in a room too big to list.</summary>
    public static void WritePresenceCount(Utf8JsonWriter w, string room, int online, byte[]? reference = null)
    {
        w.WriteStartObject();
        w.WriteString("room", room);
        w.WriteStartObject("presence_count");
        w.WriteNumber("online", online);
        w.WriteEndObject();
        if (reference is not null)
        {
            w.WritePropertyName("ref");
            w.WriteRawValue(reference, skipInputValidation: true);
        }

        w.WriteEndObject();
    }

    private static void WritePresenceEntries(Utf8JsonWriter w, string name, IReadOnlyList<PresenceEntry> entries)
    {
        w.WriteStartObject(name);
        foreach (var entry in entries)
        {
            w.WriteStartObject(entry.User);
            w.WriteString("online_at", Timestamp(entry.OnlineAt));
            w.WriteNumber("connections", entry.Connections);
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    /// <summary>ISO-8601 UTC with milliseconds, e.g. <c>2026-11-22T10:15:30.125Z</c>.</summary>
    public static string Timestamp(DateTimeOffset ts) =>
        ts.UtcDateTime.ToString(TimestampFormat, CultureInfo.InvariantCulture);

    /// <summary>A property holding <see cref="Timestamp"/>'s text, written without making the string (once per message).</summary>
    public static void WriteTimestamp(Utf8JsonWriter w, string name, DateTimeOffset ts)
    {
        Span<byte> utf8 = stackalloc byte[32];
        if (ts.UtcDateTime.TryFormat(utf8, out var written, TimestampFormat, CultureInfo.InvariantCulture))
        {
            w.WriteString(name, utf8[..written]);
        }
        else
        {
            w.WriteString(name, Timestamp(ts));
        }
    }

    /// <summary>A room's privacy, topic and the caller's role; <paramref name="full"/> adds the owner and moderators.</summary>
    public static void WriteRoomDetails(Utf8JsonWriter w, RoomDetails details, bool full)
    {
        w.WriteBoolean("private", details.IsPrivate);
        w.WriteString("topic", details.Topic ?? "");
        w.WriteString("role", details.YourRole.ToString().ToLowerInvariant());
        if (full)
        {
            if (details.Owner is { } owner)
            {
                w.WriteString("owner", owner);
            }

            w.WriteStartArray("moderators");
            foreach (var moderator in details.Moderators)
            {
                w.WriteStringValue(moderator);
            }

            w.WriteEndArray();
        }
    }
}
