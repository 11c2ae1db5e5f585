using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace TinyChat.Web;

/// <summary>
/// The TCP socket under an <see cref="HttpListenerContext"/> of the managed (Linux) <see cref="HttpListener"/>, which
/// does not expose it: <c>HttpListenerContext._connection</c> (an <c>HttpConnection</c>) and <c>HttpConnection._socket</c>
/// (dotnet/runtime src/libraries/System.Net.HttpListener/src/System/Net/Managed). Found once; when a runtime moves
/// either field, <see cref="Supported"/> is false, WebSockets go without a cork (as before it existed), and
/// <c>ListenerSocketsTests</c> fails so that someone notices.
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

    /// <summary>A cork on <paramref name="context"/>'s connection, or null (no cork: one write per frame as before).</summary>
    public static ISendCork? CorkOf(HttpListenerContext context) =>
        TcpCork.Supported && Of(context) is { } socket ? new TcpCork(socket) : null;
}
