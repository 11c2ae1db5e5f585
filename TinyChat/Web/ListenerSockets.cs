using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace TinyChat.Web;

/// <summary>
/// The TCP socket under an <see cref="HttpListenerContext"/> of the managed (Linux) <see cref="HttpListener"/>, which
/// does not expose it: <c>HttpListenerContext._connection</c> (an <c>HttpConnection</c>) and <c>HttpConnection._socket</c>
/// (dotnet/runtime src/libraries/System.Net.HttpListener/src/System/Net/Managed). Found once; when a runtime moves
/// either field, <see cref="Supported"/> is false, WebSockets go with neither a cork nor <c>TCP_NODELAY</c> (as before
/// either existed), event streams neither, and <c>SendCorkTests</c> fails so that someone notices.
/// </summary>
public static class ListenerSockets
{
    private static readonly FieldInfo? ContextConnection =
        typeof(HttpListenerContext).GetField("_connection", BindingFlags.Instance | BindingFlags.NonPublic);

    private static readonly FieldInfo? ConnectionSocket =
        ContextConnection?.FieldType.GetField("_socket", BindingFlags.Instance | BindingFlags.NonPublic);

    /// <summary>Whether this runtime's listener keeps the socket where <see cref="Of"/> looks.</summary>
    public static bool Supported => ConnectionSocket is { FieldType: var type } && type == typeof(Socket);

    /// <summary><paramref name="context"/>'s socket, or null when the runtime keeps it elsewhere.</summary>
    public static Socket? Of(HttpListenerContext context) =>
        Supported && ContextConnection!.GetValue(context) is { } connection ? ConnectionSocket!.GetValue(connection) as Socket : null;

    /// <summary>
    /// What a connection that has become a WebSocket sends with: <c>TCP_NODELAY</c> switched on, and a cork for runs
    /// of frames (null when the runtime keeps the socket elsewhere: then neither, as before either existed).
    /// </summary>
    public static ISendCork? ForWebSocket(HttpListenerContext context) => SendAtOnce(context);

    /// <summary>
    /// The same for a response that becomes an event stream: each event is a write of its own, as a WebSocket's frame
    /// is, and a run of them is packed by the cork.
    /// </summary>
    public static ISendCork? ForEventStream(HttpListenerContext context) => SendAtOnce(context);

    private static ISendCork? SendAtOnce(HttpListenerContext context)
    {
        if (Of(context) is not { } socket)
        {
            return null;
        }

        // The listener leaves Nagle on. A write made while the previous one is still unacknowledged would then wait
        // for that ACK, which the client delays by up to 40 ms when it has nothing to send back: a quiet member
        // reading a busy room is exactly that client. A run of frames is packed by the cork instead.
        try
        {
            socket.NoDelay = true;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // Cut meanwhile: the first write reports it.
        }

        return TcpCork.Supported ? new TcpCork(socket) : null;
    }
}
