using System.Collections;

namespace TinyChat.Web;

/// <summary>
/// The logging scope of one client connection: its id, its user and its front door, written as fields by the JSON
/// console formatter (<c>Logging:Format</c> = <c>json</c>) and as text by the simple one, with the room when the
/// connection shows one room (an event stream of a room). Never holds a token.
/// </summary>
public sealed class ConnectionScope(long connectionId, string user, string door, string? room = null) : IReadOnlyList<KeyValuePair<string, object?>>
{
    /// <inheritdoc />
    public int Count => room is null ? 3 : 4;

    /// <inheritdoc />
    public KeyValuePair<string, object?> this[int index] => index switch
    {
        0 => new("ConnectionId", connectionId),
        1 => new("User", user),
        2 => new("Door", door),
        3 when room is not null => new("Room", room),
        _ => throw new ArgumentOutOfRangeException(nameof(index)),
    };

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, object?>> GetEnumerator()
    {
        for (var i = 0; i < Count; i++)
        {
            yield return this[i];
        }
    }

    /// <inheritdoc />
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <inheritdoc />
    public override string ToString() => room is null ? $"{door} connection {connectionId} of {user}" : $"{door} connection {connectionId} of {user} in {room}";
}
