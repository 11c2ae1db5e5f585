using TinyChat.Chat;

namespace TinyChat.Protocols.Json;

/// <summary>
/// A room's batch for every <c>batch=1</c> or every <c>batch=2</c> connection: the very bytes
/// <see cref="JsonFrameEncoder"/> would join for each of them (groups included), made once and shared.
/// </summary>
public sealed class JsonBatchEncoder : IBatchEncoder
{
    private readonly JsonFraming framing;

    private JsonBatchEncoder(JsonFraming framing) => this.framing = framing;

    /// <summary>For <c>batch=1</c> connections.</summary>
    public static JsonBatchEncoder Lines { get; } = new(JsonFraming.Lines);

    /// <summary>For <c>batch=2</c> connections.</summary>
    public static JsonBatchEncoder Groups { get; } = new(JsonFraming.Groups);

    /// <inheritdoc />
    public ReadOnlyMemory<byte>? Encode(EventBatch batch)
    {
        var events = framing == JsonFraming.Groups ? (IEventEncoder)GroupedEventEncoder.Instance : JsonEventEncoder.Instance;
        var items = new List<ReadOnlyMemory<byte>>(batch.Count);
        var shown = new List<ChatEvent?>(batch.Count);
        var bytes = 0;
        foreach (var chatEvent in batch.Events)
        {
            var encoded = chatEvent.EncodeWith(events);
            if (encoded.IsEmpty)
            {
                continue;
            }

            bytes += encoded.Length + 1;
            if (bytes > JsonFrameEncoder.MaxJoinedBytes)
            {
                // More than one joined frame holds: each connection frames it in parts, as before.
                return null;
            }

            items.Add(encoded);
            shown.Add(chatEvent);
        }

        if (items.Count == 0)
        {
            return ReadOnlyMemory<byte>.Empty;
        }

        using var framer = new JsonFrameEncoder(framing);
        var frames = new List<ReadOnlyMemory<byte>>(1);
        framer.Frame(items, shown, frames);
        return frames.Count == 1 ? frames[0].ToArray() : null;
    }
}
