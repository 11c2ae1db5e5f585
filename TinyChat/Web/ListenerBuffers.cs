using System.Net;
using System.Reflection;

namespace TinyChat.Web;

/// <summary>
/// What the managed <see cref="HttpListener"/> keeps per connection that a long-lived response no longer needs.
/// Each of its connections allocates an 8 KiB buffer to read request heads and keeps it until the connection closes;
/// a WebSocket (or an event stream) never reads another request head through it, so with thousands of idle
/// connections that buffer is most of what the listener holds per connection. The listener allocates it again when a
/// connection reads its next request, so letting go of it is safe; the field is private, hence reflection, found once.
/// </summary>
public static class ListenerBuffers
{
    private static readonly FieldInfo? ContextConnection =
        typeof(HttpListenerContext).GetField("_connection", BindingFlags.Instance | BindingFlags.NonPublic);

    private static readonly FieldInfo? ConnectionBuffer =
        ContextConnection?.FieldType.GetField("_buffer", BindingFlags.Instance | BindingFlags.NonPublic);

    /// <summary>Whether this runtime's listener has the buffer where it is expected (the managed implementation).</summary>
    public static bool Supported => ConnectionBuffer is { FieldType: var type } && type == typeof(byte[]);

    /// <summary>
    /// Drops the request-head buffer of <paramref name="context"/>'s connection once its response has taken the
    /// connection over (after a WebSocket upgrade, after an event stream's headers); the bytes it released (0 if it
    /// held none or the runtime keeps it elsewhere).
    /// </summary>
    public static int ReleaseRequestBuffer(HttpListenerContext context)
    {
        if (!Supported || ContextConnection!.GetValue(context) is not { } connection)
        {
            return 0;
        }

        var buffer = ConnectionBuffer!.GetValue(connection) as byte[];
        ConnectionBuffer.SetValue(connection, null);
        return buffer?.Length ?? 0;
    }

    /// <summary>The request-head buffer <paramref name="context"/>'s connection holds now, in bytes (for tests).</summary>
    public static int HeldBytes(HttpListenerContext context) =>
        Supported && ContextConnection!.GetValue(context) is { } connection && ConnectionBuffer!.GetValue(connection) is byte[] buffer ? buffer.Length : 0;
}
