namespace TinyChat.Web;

/// <summary>
/// The send side of one client connection (a WebSocket, a TCP line stream, an HTTP response stream).
/// Only the owning <see cref="ConnectionOutbox"/>'s writer loop calls the write and close methods, one call at a
/// time, so implementations need no locking of their own; <see cref="Abort"/> may come from any thread at any time.
/// </summary>
public interface ITransport
{
    /// <summary>
    /// Writes one frame (a message, a line, an event: whatever unit the protocol's frame encoder produced). May wait
    /// as long as the peer does not read; the outbox bounds that wait by aborting. Throws <see cref="IOException"/>,
    /// <see cref="OperationCanceledException"/> or <see cref="ObjectDisposedException"/> when the peer is gone.
    /// </summary>
    ValueTask WriteAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken);

    /// <summary>
    /// Writes several frames in order, as one write where the transport can (a stream transport gathers them into one
    /// send). Same waiting and failure contract as <see cref="WriteAsync"/>. The list and the bytes it points to are
    /// only valid during the call.
    /// </summary>
    ValueTask WriteManyAsync(IReadOnlyList<ReadOnlyMemory<byte>> frames, CancellationToken cancellationToken);

    /// <summary>
    /// Says goodbye and ends the send side: <paramref name="code"/> is an RFC 6455 close code, which transports without
    /// codes translate or ignore; <paramref name="reason"/> is for the peer (may be empty). Bounded in time by the
    /// transport itself; does nothing if the send side is already gone. Called at most once, after the last write.
    /// </summary>
    ValueTask CloseAsync(int code, string reason, CancellationToken cancellationToken);

    /// <summary>Cuts the connection at once, without a goodbye, waking any write or read blocked on it. Never throws; idempotent.</summary>
    void Abort();
}
