using System.Buffers;
using System.Text.Json;
using TinyChat.Chat;
using TinyChat.Protocols.Json;

namespace TinyChat.Protocols.Phoenix;

/// <summary>The two wire formats phoenix.js speaks: <c>vsn=1.0.0</c> (JSON objects) and <c>vsn=2.0.0</c> (JSON arrays).</summary>
public enum PhoenixVersion
{
    /// <summary><c>{"topic","event","payload","ref"}</c>.</summary>
    V1,

    /// <summary><c>[join_ref, ref, topic, event, payload]</c>.</summary>
    V2,
}

/// <summary>
/// Encodes chat events as Phoenix Channels messages of one serializer version. Broadcasts carry no refs, so the
/// bytes are the same for every subscriber of that version. A private message is two messages (one on the
/// recipient's <c>user:</c> topic, one on the sender's) joined by a newline, which the frame encoder splits.
/// </summary>
public sealed class PhoenixEventEncoder : IEventEncoder
{
    private PhoenixEventEncoder(PhoenixVersion version) => Version = version;

    /// <summary>The vsn=1.0.0 encoder shared by every V1 connection.</summary>
    public static PhoenixEventEncoder V1 { get; } = new(PhoenixVersion.V1);

    /// <summary>The vsn=2.0.0 encoder shared by every V2 connection.</summary>
    public static PhoenixEventEncoder V2 { get; } = new(PhoenixVersion.V2);

    /// <summary>The serializer version.</summary>
    public PhoenixVersion Version { get; }

    /// <summary>The shared encoder of a version.</summary>
    public static PhoenixEventEncoder For(PhoenixVersion version) => version == PhoenixVersion.V1 ? V1 : V2;

    /// <inheritdoc />
    public ReadOnlyMemory<byte> Encode(ChatEvent chatEvent) => chatEvent switch
    {
        RoomMessage { Kind: not null } roomEvent => Message(null, null, PhoenixTopics.Room(roomEvent.Room), "room_event", w => JsonEventEncoder.WriteRoomMessage(w, roomEvent)),
        RoomMessage message => Message(null, null, PhoenixTopics.Room(message.Room), "new_msg", w => WriteRoomMessage(w, message)),
        PrivateMessage message => EncodePrivate(message),
        PresenceState state => Message(null, null, PhoenixTopics.Room(state.Room), "presence_state", w => WritePresences(w, state.Online)),
        PresenceCount count => Message(null, null, PhoenixTopics.Room(count.Room), "presence_count", w =>
        {
            w.WriteStartObject();
            w.WriteNumber("online", count.Online);
            w.WriteEndObject();
        }),
        PresenceDiff diff => Message(null, null, PhoenixTopics.Room(diff.Room), "presence_diff", w =>
        {
            w.WriteStartObject();
            w.WritePropertyName("joins");
            WritePresences(w, diff.Joins);
            w.WritePropertyName("leaves");
            WritePresences(w, diff.Leaves);
            w.WriteEndObject();
        }),
        PresenceConnectionDiff diff => Message(null, null, PhoenixTopics.Room(diff.Room), "presence_diff", w =>
        {
            w.WriteStartObject();
            w.WritePropertyName("joins");
            WriteConnections(w, diff.User, diff.Opened);
            w.WritePropertyName("leaves");
            WriteConnections(w, diff.User, diff.Closed);
            w.WriteEndObject();
        }),
        TypingNotice typing => Message(null, null, typing.Room is { } room ? PhoenixTopics.Room(room) : PhoenixTopics.User(typing.To!), "typing", w =>
        {
            w.WriteStartObject();
            w.WriteString("user", typing.User);
            if (typing.To is { } to)
            {
                w.WriteString("to", to);
            }

            w.WriteEndObject();
        }),
        MentionNotice mention => Message(null, null, PhoenixTopics.User(mention.User), "mention", w => JsonEventEncoder.WriteMention(w, mention)),
        ReadMarker read => Message(null, null, PhoenixTopics.User(read.User), "read", w => JsonEventEncoder.WriteRead(w, read)),
        _ => throw new NotSupportedException($"no Phoenix encoding for {chatEvent.GetType().Name}"),
    };

    /// <summary>One whole message of this version: <paramref name="writePayload"/> writes the payload value.</summary>
    public byte[] Message(string? joinRef, string? reference, string topic, string eventName, Action<Utf8JsonWriter> writePayload)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer, JsonEventEncoder.WriterOptions))
        {
            WriteMessage(w, joinRef, reference, topic, eventName, writePayload);
        }

        return buffer.WrittenSpan.ToArray();
    }

    /// <summary>A <c>phx_reply</c>: <c>{"status", "response"}</c> carrying the push's refs.</summary>
    public byte[] Reply(string? joinRef, string? reference, string topic, string status, Action<Utf8JsonWriter> writeResponse) =>
        Message(joinRef, reference, topic, "phx_reply", w =>
        {
            w.WriteStartObject();
            w.WriteString("status", status);
            w.WritePropertyName("response");
            writeResponse(w);
            w.WriteEndObject();
        });

    /// <summary><c>{"id","user","body","inserted_at"}</c>: live and in history.</summary>
    public static void WriteRoomMessage(Utf8JsonWriter w, RoomMessage m)
    {
        w.WriteStartObject();
        w.WriteNumber("id", m.Id);
        w.WriteString("user", m.From);
        w.WriteString("body", m.Text);
        w.WriteString("inserted_at", JsonEventEncoder.Timestamp(m.Timestamp));
        if (m.Kind is not null)
        {
            w.WriteString("event", m.Kind);
        }

        if (m.Deleted)
        {
            w.WriteBoolean("deleted", true);
        }
        else if (m.EditedAt is { } edited)
        {
            w.WriteString("edited_at", JsonEventEncoder.Timestamp(edited));
        }

        w.WriteEndObject();
    }

    /// <summary><c>{"id","user","to","body","inserted_at"}</c>: live and in history.</summary>
    public static void WritePrivateMessage(Utf8JsonWriter w, PrivateMessage m)
    {
        w.WriteStartObject();
        w.WriteNumber("id", m.Id);
        w.WriteString("user", m.From);
        w.WriteString("to", m.To);
        w.WriteString("body", m.Text);
        w.WriteString("inserted_at", JsonEventEncoder.Timestamp(m.Timestamp));
        w.WriteEndObject();
    }

    /// <summary>
    /// Phoenix.Presence's shape, <c>{USER: {"metas": [{"phx_ref", "online_at"}, ...]}}</c>, one meta per connection
    /// with the connection's own ref and opening time, as Phoenix.Presence tracks each socket: a second tab is a
    /// second meta, and a leave names exactly the refs that went (all of them when the user went offline or left).
    /// Connections on other nodes, which this node only counts, get refs derived from the user's session.
    /// </summary>
    public static void WritePresences(Utf8JsonWriter w, IReadOnlyList<PresenceEntry> entries)
    {
        w.WriteStartObject();
        foreach (var entry in entries)
        {
            w.WriteStartObject(entry.User);
            w.WriteStartArray("metas");
            foreach (var connection in entry.Named)
            {
                WriteMeta(w, connection.Id, connection.OpenedAt);
            }

            // A leave always names at least one ref; counted-only connections get stable refs from the session.
            var counted = Math.Max(entry.Connections, entry.Named.Count == 0 ? 1 : 0);
            for (var i = entry.Named.Count; i < counted; i++)
            {
                WriteMeta(w, string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{entry.OnlineAt.UtcTicks:x}.{i}"), entry.OnlineAt);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    // {USER: {"metas": [...]}} for some connections of one user, or {} when there are none.
    private static void WriteConnections(Utf8JsonWriter w, string user, IReadOnlyList<ConnectionPresence> connections)
    {
        w.WriteStartObject();
        if (connections.Count > 0)
        {
            w.WriteStartObject(user);
            w.WriteStartArray("metas");
            foreach (var connection in connections)
            {
                WriteMeta(w, connection.Id, connection.OpenedAt);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }

        w.WriteEndObject();
    }

    private static void WriteMeta(Utf8JsonWriter w, string reference, DateTimeOffset onlineAt)
    {
        w.WriteStartObject();
        w.WriteString("phx_ref", reference);
        w.WriteString("online_at", JsonEventEncoder.Timestamp(onlineAt));
        w.WriteEndObject();
    }

    private ReadOnlyMemory<byte> EncodePrivate(PrivateMessage message)
    {
        var toRecipient = Message(null, null, PhoenixTopics.User(message.To), "new_msg", w => WritePrivateMessage(w, message));
        if (message.To == message.From)
        {
            return toRecipient;
        }

        var toSender = Message(null, null, PhoenixTopics.User(message.From), "new_msg", w => WritePrivateMessage(w, message));
        var both = new byte[toRecipient.Length + 1 + toSender.Length];
        toRecipient.CopyTo(both, 0);
        both[toRecipient.Length] = (byte)'\n';
        toSender.CopyTo(both, toRecipient.Length + 1);
        return both;
    }

    private void WriteMessage(Utf8JsonWriter w, string? joinRef, string? reference, string topic, string eventName, Action<Utf8JsonWriter> writePayload)
    {
        if (Version == PhoenixVersion.V2)
        {
            w.WriteStartArray();
            WriteNullable(w, joinRef);
            WriteNullable(w, reference);
            w.WriteStringValue(topic);
            w.WriteStringValue(eventName);
            writePayload(w);
            w.WriteEndArray();
            return;
        }

        w.WriteStartObject();
        w.WriteString("topic", topic);
        w.WriteString("event", eventName);
        w.WritePropertyName("payload");
        writePayload(w);
        w.WritePropertyName("ref");
        WriteNullable(w, reference);
        w.WriteEndObject();
    }

    private static void WriteNullable(Utf8JsonWriter w, string? value)
    {
        if (value is null)
        {
            w.WriteNullValue();
        }
        else
        {
            w.WriteStringValue(value);
        }
    }
}

/// <summary>The topics TinyChat serves: <c>room:NAME</c> and <c>user:NAME</c>.</summary>
public static class PhoenixTopics
{
    /// <summary>The topic prefix of a room.</summary>
    public const string RoomPrefix = "room:";

    /// <summary>The topic prefix of a user's private messages.</summary>
    public const string UserPrefix = "user:";

    /// <summary>The topic of the socket itself (heartbeats).</summary>
    public const string Socket = "phoenix";

    /// <summary><c>room:NAME</c>.</summary>
    public static string Room(string room) => RoomPrefix + room;

    /// <summary><c>user:NAME</c>.</summary>
    public static string User(string user) => UserPrefix + user;
}
