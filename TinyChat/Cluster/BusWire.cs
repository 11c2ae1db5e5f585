using System.Buffers;
using System.Text;
using System.Text.Json;
using TinyChat.Chat;

namespace TinyChat.Cluster;

/// <summary>
/// What a <c>NOTIFY</c> payload carries once decoded: a message for the topic's subscribers, or a reference to
/// messages too large to travel inline, which the receiver reads back from the store.
/// </summary>
public abstract record BusNotice(string Origin, ChatTopic Topic);

/// <summary>A message that travelled inline.</summary>
public sealed record InlineNotice(string Origin, ChatTopic Topic, ChatBusMessage Message) : BusNotice(Origin, Topic);

/// <summary>A committed room batch by its id range (inclusive).</summary>
public sealed record RoomBatchReference(string Origin, ChatTopic Topic, string Room, long First, long Last) : BusNotice(Origin, Topic);

/// <summary>A private message by its id.</summary>
public sealed record PrivateMessageReference(string Origin, ChatTopic Topic, string From, string To, long Id) : BusNotice(Origin, Topic);

/// <summary>
/// The bus's wire format: one compact JSON object per <c>NOTIFY</c> payload, at most <see cref="MaxPayloadBytes"/>
/// bytes of UTF-8 (PostgreSQL refuses 8,000 and more). Room batches and private messages that do not fit go by
/// reference; member lists are split over several payloads. Events that make sense on one node only (presence
/// states and diffs, which each node's rooms decide for themselves) are not sent.
/// </summary>
/// <remarks>
/// Fields: <c>o</c> origin (the sending bus instance), <c>t</c> topic kind (<c>r</c> room, <c>u</c> user,
/// <c>c</c> cluster), <c>n</c> topic name, <c>k</c> kind, then the kind's own fields. Times are UTC ticks, so a
/// message read back from the store and one received inline are the same to the tick.
/// </remarks>
public static class BusWire
{
    /// <summary>The largest payload sent (PostgreSQL's limit is 8,000 bytes, exclusive, in the default build).</summary>
    public const int MaxPayloadBytes = 7900;

    private const int MembersPerPayload = 100;

    /// <summary>The payloads that carry <paramref name="message"/> to other nodes (none for a node-local event).</summary>
    public static IReadOnlyList<string> Encode(string origin, ChatTopic topic, ChatBusMessage message)
    {
        switch (message)
        {
            case CommittedMessages batch when batch.Messages.Count > 0:
                var inline = Write(origin, topic, "m", w =>
                {
                    w.WriteString("r", batch.Room);
                    w.WriteStartArray("m");
                    foreach (var m in batch.Messages)
                    {
                        w.WriteStartArray();
                        w.WriteNumberValue(m.Id);
                        w.WriteStringValue(m.From);
                        w.WriteStringValue(m.Text);
                        w.WriteNumberValue(m.Timestamp.UtcTicks);
                        if (m.Kind is not null)
                        {
                            // A room event: kind, target, the message it refers to, when a mute ends.
                            w.WriteStringValue(m.Kind);
                            WriteOptionalValue(w, m.Target);
                            WriteOptionalValue(w, m.RefersTo);
                            WriteOptionalValue(w, m.Until?.UtcTicks);
                        }

                        w.WriteEndArray();
                    }

                    w.WriteEndArray();
                });
                return [Fits(inline) ? inline : Write(origin, topic, "mr", w =>
                {
                    w.WriteString("r", batch.Room);
                    w.WriteNumber("f", batch.Messages[0].Id);
                    w.WriteNumber("l", batch.Messages[^1].Id);
                })];
            case ChatBusEvent { Event: PrivateMessage pm }:
                var full = Write(origin, topic, "p", w =>
                {
                    w.WriteString("f", pm.From);
                    w.WriteString("to", pm.To);
                    w.WriteString("x", pm.Text);
                    w.WriteNumber("i", pm.Id);
                    w.WriteNumber("ts", pm.Timestamp.UtcTicks);
                });
                return [Fits(full) ? full : Write(origin, topic, "pr", w =>
                {
                    w.WriteString("f", pm.From);
                    w.WriteString("to", pm.To);
                    w.WriteNumber("i", pm.Id);
                })];
            case ChatBusEvent { Event: RoomMessage { Kind: RoomEventKind.Invite } invite }:
                return [Write(origin, topic, "iv", w =>
                {
                    w.WriteString("r", invite.Room);
                    w.WriteString("f", invite.From);
                    w.WriteString("u", invite.Target);
                    w.WriteNumber("i", invite.Id);
                    w.WriteNumber("ts", invite.Timestamp.UtcTicks);
                })];
            case ChatBusEvent { Event: TypingNotice typing }:
                return [Write(origin, topic, "ty", w =>
                {
                    w.WriteString("u", typing.User);
                    WriteOptional(w, "r", typing.Room);
                    WriteOptional(w, "to", typing.To);
                })];
            case ChatBusEvent { Event: MentionNotice mention }:
                return [Write(origin, topic, "mn", w =>
                {
                    w.WriteString("u", mention.User);
                    w.WriteString("r", mention.Room);
                    w.WriteString("f", mention.From);
                    w.WriteNumber("i", mention.Id);
                    w.WriteNumber("ts", mention.Timestamp.UtcTicks);
                    w.WriteString("x", mention.Excerpt);
                })];
            case ChatBusEvent { Event: ReadMarker read }:
                return [Write(origin, topic, "rd", w =>
                {
                    w.WriteString("u", read.User);
                    WriteOptional(w, "r", read.Room);
                    WriteOptional(w, "w", read.With);
                    w.WriteNumber("i", read.Position);
                    w.WriteNumber("un", read.Unread);
                    w.WriteNumber("mn", read.Mentions);
                })];
            case RemovedFromRoom removed:
                return [Write(origin, topic, "rm", w =>
                {
                    w.WriteString("r", removed.Room);
                    w.WriteString("u", removed.User);
                })];
            case MembershipChanged change:
                var payloads = new List<string>();
                foreach (var (joined, left) in Split(change.Joined, change.Left))
                {
                    payloads.Add(Write(origin, topic, "mc", w =>
                    {
                        w.WriteString("r", change.Room);
                        WriteNames(w, "j", joined);
                        WriteNames(w, "l", left);
                    }));
                }

                return payloads;
            case PresenceRows rows:
                return [Write(origin, topic, "pw", w =>
                {
                    WriteNode(w, rows.Node, rows.Incarnation, rows.Version);
                    w.WriteBoolean("s", rows.Snapshot);
                    w.WriteBoolean("e", rows.Final);
                    w.WriteStartArray("w");
                    foreach (var row in rows.Rows)
                    {
                        w.WriteStartArray();
                        w.WriteStringValue(row.User);
                        w.WriteNumberValue(row.OnlineAt.UtcTicks);
                        w.WriteNumberValue(row.Connections);
                        w.WriteEndArray();
                    }

                    w.WriteEndArray();
                })];
            case NodeHeartbeat beat:
                return [Write(origin, topic, "hb", w =>
                {
                    WriteNode(w, beat.Node, beat.Incarnation, beat.Version);
                    w.WriteBoolean("x", beat.Leaving);
                })];
            case PresenceSyncRequest request:
                return [Write(origin, topic, "sr", w =>
                {
                    w.WriteString("nd", request.Node);
                    WriteOptional(w, "tg", request.Target);
                })];
            default:
                return [];
        }
    }

    /// <summary>Reads a payload; throws <see cref="FormatException"/> when it is not one of ours.</summary>
    public static BusNotice Decode(string payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload);
            var root = document.RootElement;
            var origin = root.GetProperty("o").GetString()!;
            var topic = new ChatTopic(
                root.GetProperty("t").GetString() switch
                {
                    "r" => ChatTopicKind.Room,
                    "u" => ChatTopicKind.User,
                    "c" => ChatTopicKind.Cluster,
                    var other => throw new FormatException($"unknown topic kind {other}"),
                },
                root.GetProperty("n").GetString()!);
            var kind = root.GetProperty("k").GetString();
            return kind switch
            {
                "m" => new InlineNotice(origin, topic, new CommittedMessages(
                    Text(root, "r"),
                    [.. root.GetProperty("m").EnumerateArray().Select(m => ReadRoomMessage(Text(root, "r"), m))])),
                "rm" => new InlineNotice(origin, topic, new RemovedFromRoom(Text(root, "r"), Text(root, "u"))),
                "mr" => new RoomBatchReference(origin, topic, Text(root, "r"), root.GetProperty("f").GetInt64(), root.GetProperty("l").GetInt64()),
                "p" => new InlineNotice(origin, topic, new ChatBusEvent(new PrivateMessage(
                    Text(root, "f"), Text(root, "to"), Text(root, "x"), root.GetProperty("i").GetInt64(), Ticks(root.GetProperty("ts"))))),
                "pr" => new PrivateMessageReference(origin, topic, Text(root, "f"), Text(root, "to"), root.GetProperty("i").GetInt64()),
                "ty" => new InlineNotice(origin, topic, new ChatBusEvent(new TypingNotice(Text(root, "u"), Optional(root, "r"), Optional(root, "to")))),
                "iv" => new InlineNotice(origin, topic, new ChatBusEvent(new RoomMessage(Text(root, "r"), Text(root, "f"), "", root.GetProperty("i").GetInt64(), Ticks(root.GetProperty("ts")))
                {
                    Kind = RoomEventKind.Invite,
                    Target = Text(root, "u"),
                })),
                "mn" => new InlineNotice(origin, topic, new ChatBusEvent(new MentionNotice(
                    Text(root, "u"), Text(root, "r"), Text(root, "f"), root.GetProperty("i").GetInt64(), Ticks(root.GetProperty("ts")), Text(root, "x")))),
                "rd" => new InlineNotice(origin, topic, new ChatBusEvent(new ReadMarker(
                    Text(root, "u"), Optional(root, "r"), Optional(root, "w"), root.GetProperty("i").GetInt64(), root.GetProperty("un").GetInt32(), root.GetProperty("mn").GetInt32()))),
                "mc" => new InlineNotice(origin, topic, new MembershipChanged(Text(root, "r"), Names(root, "j"), Names(root, "l"))),
                "pw" => new InlineNotice(origin, topic, new PresenceRows(
                    Text(root, "nd"),
                    Text(root, "in"),
                    root.GetProperty("v").GetInt64(),
                    [.. root.GetProperty("w").EnumerateArray().Select(r => new NodePresence(Text(root, "nd"), r[0].GetString()!, Ticks(r[1]), r[2].GetInt32()))],
                    root.GetProperty("s").GetBoolean(),
                    root.GetProperty("e").GetBoolean())),
                "hb" => new InlineNotice(origin, topic, new NodeHeartbeat(Text(root, "nd"), Text(root, "in"), root.GetProperty("v").GetInt64(), root.GetProperty("x").GetBoolean())),
                "sr" => new InlineNotice(origin, topic, new PresenceSyncRequest(Text(root, "nd"), Optional(root, "tg"))),
                _ => throw new FormatException($"unknown kind {kind}"),
            };
        }
        catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException or IndexOutOfRangeException or ArgumentException)
        {
            throw new FormatException("not a TinyChat bus payload: " + ex.Message, ex);
        }
    }

    private static RoomMessage ReadRoomMessage(string room, JsonElement m)
    {
        var message = new RoomMessage(room, m[1].GetString()!, m[2].GetString()!, m[0].GetInt64(), Ticks(m[3]));
        return m.GetArrayLength() <= 4 ? message : new RoomMessage(room, message.From, message.Text, message.Id, message.Timestamp)
        {
            Kind = m[4].GetString(),
            Target = m[5].ValueKind == JsonValueKind.Null ? null : m[5].GetString(),
            RefersTo = m[6].ValueKind == JsonValueKind.Null ? null : m[6].GetInt64(),
            Until = m[7].ValueKind == JsonValueKind.Null ? null : Ticks(m[7]),
        };
    }

    private static void WriteOptionalValue(Utf8JsonWriter w, string? value)
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

    private static void WriteOptionalValue(Utf8JsonWriter w, long? value)
    {
        if (value is { } number)
        {
            w.WriteNumberValue(number);
        }
        else
        {
            w.WriteNullValue();
        }
    }

    private static bool Fits(string payload) => Encoding.UTF8.GetByteCount(payload) <= MaxPayloadBytes;

    private static string Write(string origin, ChatTopic topic, string kind, Action<Utf8JsonWriter> body)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var w = new Utf8JsonWriter(buffer))
        {
            w.WriteStartObject();
            w.WriteString("o", origin);
            w.WriteString("t", topic.Kind switch
            {
                ChatTopicKind.Room => "r",
                ChatTopicKind.User => "u",
                _ => "c",
            });
            w.WriteString("n", topic.Name);
            w.WriteString("k", kind);
            body(w);
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    private static void WriteNode(Utf8JsonWriter w, string node, string incarnation, long version)
    {
        w.WriteString("nd", node);
        w.WriteString("in", incarnation);
        w.WriteNumber("v", version);
    }

    private static void WriteOptional(Utf8JsonWriter w, string name, string? value)
    {
        if (value is not null)
        {
            w.WriteString(name, value);
        }
    }

    private static void WriteNames(Utf8JsonWriter w, string name, IEnumerable<string> names)
    {
        w.WriteStartArray(name);
        foreach (var n in names)
        {
            w.WriteStringValue(n);
        }

        w.WriteEndArray();
    }

    private static IEnumerable<(IReadOnlyList<string> Joined, IReadOnlyList<string> Left)> Split(IReadOnlyList<string> joined, IReadOnlyList<string> left)
    {
        // User names are at most 32 characters: 100 of them stay far below the payload limit.
        if (joined.Count + left.Count <= MembersPerPayload)
        {
            yield return (joined, left);
            yield break;
        }

        for (var i = 0; i < joined.Count; i += MembersPerPayload)
        {
            yield return ([.. joined.Skip(i).Take(MembersPerPayload)], []);
        }

        for (var i = 0; i < left.Count; i += MembersPerPayload)
        {
            yield return ([], [.. left.Skip(i).Take(MembersPerPayload)]);
        }
    }

    private static string Text(JsonElement root, string name) => root.GetProperty(name).GetString() ?? throw new FormatException($"{name} is null");

    private static string? Optional(JsonElement root, string name) => root.TryGetProperty(name, out var value) ? value.GetString() : null;

    private static string[] Names(JsonElement root, string name) => [.. root.GetProperty(name).EnumerateArray().Select(e => e.GetString()!)];

    private static DateTimeOffset Ticks(JsonElement element) => new(element.GetInt64(), TimeSpan.Zero);
}
