using System.Collections;

namespace TinyChat.Chat;

/// <summary>
/// Encodes a room's committed batch as one piece for every connection of a wire format that joins events into one
/// frame; null when the batch cannot be one piece (too big for one frame), and each connection frames it itself.
/// Must be pure: the result is shared by every recipient that uses the encoder.
/// </summary>
public interface IBatchEncoder
{
    /// <summary>The batch's bytes as one piece, or null.</summary>
    ReadOnlyMemory<byte>? Encode(EventBatch batch);
}

/// <summary>
/// A room's committed batch as every member's connections receive it: its events in order and, per batch encoder,
/// the batch encoded once as one piece, so a busy room's fan-out frames each batch once per wire format rather than
/// once per member.
/// </summary>
public sealed class EventBatch(ChatEvent[] events) : IReadOnlyList<ChatEvent>
{
    private EncodingCache<IBatchEncoder, ReadOnlyMemory<byte>?> encodings;

    /// <summary>The events, in the room's order.</summary>
    public ChatEvent[] Events { get; } = events;

    /// <inheritdoc />
    public int Count => Events.Length;

    /// <inheritdoc />
    public ChatEvent this[int index] => Events[index];

    /// <summary>The batch's bytes as one piece in <paramref name="encoder"/>'s format (null: not one piece), encoded on first use. Thread-safe.</summary>
    public ReadOnlyMemory<byte>? EncodeWith(IBatchEncoder encoder) =>
        encodings.GetOrEncode(encoder, this, static (encoder, batch) => encoder.Encode(batch));

    /// <inheritdoc />
    public IEnumerator<ChatEvent> GetEnumerator() => ((IEnumerable<ChatEvent>)Events).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
