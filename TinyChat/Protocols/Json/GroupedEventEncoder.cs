using TinyChat.Chat;

namespace TinyChat.Protocols.Json;

/// <summary>
/// The native protocol's events for <c>batch=2</c> clients: a plain chat message in a room is a group of one,
/// <c>{"room":R,"id":N,"ts":MS,"messages":[[FROM,TEXT]]}</c>, which <see cref="JsonFrameEncoder"/> extends with the
/// messages that follow it in the same write (next id, same time); every other event is the <c>batch=1</c> object,
/// the very bytes <see cref="JsonEventEncoder"/> cached for the event (see docs/protocol.md, Batching).
/// </summary>
public sealed class GroupedEventEncoder : IEventEncoder
{
    private static readonly byte[] MessagesKey = ",\"messages\":["u8.ToArray();

    private GroupedEventEncoder()
    {
    }

    /// <summary>The one instance: every <c>batch=2</c> connection shares it, so an event is encoded once for all of them.</summary>
    public static GroupedEventEncoder Instance { get; } = new();

    /// <summary>
    /// Whether <paramref name="chatEvent"/> is encoded as a group (a chat message as it is first shown: not a room
    /// event, not edited, not deleted).
    /// </summary>
    public static bool IsGrouped(ChatEvent chatEvent) =>
        chatEvent is RoomMessage { Kind: null, Deleted: false, EditedAt: null };

    /// <summary>Where the message <c>[FROM,TEXT]</c> starts in a group of one encoded by this encoder.</summary>
    public static int MessageStart(ReadOnlySpan<byte> group) => group.IndexOf(MessagesKey) + MessagesKey.Length;

    /// <inheritdoc />
    public ReadOnlyMemory<byte> Encode(ChatEvent chatEvent)
    {
        if (!IsGrouped(chatEvent))
        {
            return chatEvent.EncodeWith(JsonEventEncoder.Instance);
        }

        return JsonEventEncoder.Build((RoomMessage)chatEvent, static (w, message) =>
        {
            // The room name, id and time come before "messages" and hold no quote, so the frame encoder finds where
            // the message starts by the first ,"messages":[ (text inside a JSON string has its quotes escaped).
            w.WriteStartObject();
            w.WriteString("room", message.Room);
            w.WriteNumber("id", message.Id);
            w.WriteNumber("ts", message.Timestamp.ToUnixTimeMilliseconds());
            w.WriteStartArray("messages");
            w.WriteStartArray();
            w.WriteStringValue(message.From);
            w.WriteStringValue(message.Text);
            w.WriteEndArray();
            w.WriteEndArray();
            w.WriteEndObject();
        });
    }
}
