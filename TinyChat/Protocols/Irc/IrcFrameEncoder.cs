using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Protocols.Irc;

/// <summary>
/// IRC's frames on one connection: every encoded item is already whole CR LF lines, so items go out as they are
/// (the transport sends a run in one write). The event encoder can change when the client enables tags after registering.
/// </summary>
public sealed class IrcFrameEncoder(IEventEncoder events) : IFrameEncoder
{
    private volatile IEventEncoder events = events;

    /// <inheritdoc />
    public IEventEncoder Events => events;

    /// <summary>Switches the variant for events queued from now on.</summary>
    public void Use(IEventEncoder encoder) => events = encoder;

    /// <inheritdoc />
    public void Frame(IReadOnlyList<ReadOnlyMemory<byte>> items, List<ReadOnlyMemory<byte>> frames)
    {
        for (var i = 0; i < items.Count; i++)
        {
            if (!items[i].IsEmpty)
            {
                frames.Add(items[i]);
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }
}
