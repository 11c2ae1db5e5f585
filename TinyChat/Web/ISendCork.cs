namespace TinyChat.Web;

/// <summary>
/// Holds a connection's small writes back while several frames are written in a row, then lets them go together.
/// A WebSocket message must be its own <c>SendAsync</c>, so a run of N one-message frames is N socket writes; without
/// this each tends to leave as its own TCP segment.
/// </summary>
public interface ISendCork
{
    /// <summary>Starts holding: what is written from now on waits for <see cref="Uncork"/> or a full segment. Never throws.</summary>
    void Cork();

    /// <summary>Sends what is held and stops holding. Never throws; safe after the connection was cut.</summary>
    void Uncork();
}
