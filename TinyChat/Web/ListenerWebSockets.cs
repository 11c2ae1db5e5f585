using System.Linq.Expressions;
using System.Net;
using System.Net.WebSockets;
using System.Reflection;
using Microsoft.Extensions.Logging;

namespace TinyChat.Web;

/// <summary>
/// The WebSocket that HttpListener's accepted WebSocket speaks through. .NET 10's managed (Linux) listener hands out a
/// wrapper whose only work is that disposing it also closes the listener's connection; it forwards the array overloads
/// of <c>ReceiveAsync</c> and <c>SendAsync</c> only, so every <see cref="Memory{T}"/> read and write made on it goes
/// through <see cref="WebSocket"/>'s base-class adapters (an async state machine, a <see cref="Task"/>, a
/// <see cref="WebSocketReceiveResult"/> and a continuation per call). Reading and writing through the socket it wraps
/// skips them.
/// <para>
/// Contract with System.Net.HttpListener (dotnet/runtime
/// src/libraries/System.Net.HttpListener/src/System/Net/Managed/WebSockets/HttpWebSocket.Managed.cs):
/// <c>System.Net.WebSockets.HttpWebSocket+HttpListenerWrappedWebSocket._inner</c> (a <see cref="WebSocket"/>: the
/// <c>ManagedWebSocket</c> made over the connection's stream). The wrapper forwards <c>State</c>, <c>CloseStatus</c>,
/// <c>CloseOutputAsync</c>, <c>CloseAsync</c> and <c>Abort</c> to it unchanged, so both report the same state;
/// its <c>Dispose</c> disposes the inner socket and then closes the listener's response (which closes the TCP
/// connection and unregisters the context), and its finalizer does the same, so the wrapper must stay referenced for
/// as long as the inner socket is used (<c>ListenerWebSocketsTests</c> checks all of it on a real listener). Found once
/// per process; where it is missing (another runtime, or Windows' http.sys listener) the accepted socket is used as it
/// is, as before, and a debug line says so once.
/// </para>
/// </summary>
public static class ListenerWebSockets
{
    private const string WrapperName = "System.Net.WebSockets.HttpWebSocket+HttpListenerWrappedWebSocket";
    private static readonly Type? Wrapper = typeof(HttpListener).Assembly.GetType(WrapperName, throwOnError: false);
    private static readonly (Func<WebSocket, WebSocket>? Read, string? Missing) Inner = Find(Wrapper);
    private static int fallbackLogged;

    /// <summary>Whether this runtime's listener wraps its WebSockets where <see cref="MessageSocket"/> looks.</summary>
    public static bool Supported => Inner.Read is not null;

    /// <summary>
    /// Accepts <paramref name="context"/>'s upgrade and makes the connection that serves it: read and written through
    /// the wrapped socket where there is one; closed, aborted and disposed through the accepted one.
    /// </summary>
    public static async Task<WebSocketConnection> AcceptAsync(
        HttpListenerContext context,
        string? subprotocol,
        TimeSpan keepAlive,
        IFrameEncoder encoder,
        ConnectionLimits limits,
        string user,
        TimeProvider time,
        ILogger logger)
    {
        var accepted = await context.AcceptWebSocketAsync(subprotocol, limits.ReceiveBufferBytes, keepAlive).ConfigureAwait(false);
        ListenerBuffers.ReleaseRequestBuffer(context);
        var socket = accepted.WebSocket;
        return new WebSocketConnection(socket, encoder, limits, user, time, context.Response.Abort, ListenerSockets.ForWebSocket(context), MessageSocket(socket, logger));
    }

    /// <summary>
    /// The socket to read and write <paramref name="accepted"/>'s messages through: the one it wraps, or
    /// <paramref name="accepted"/> itself when it is not the listener's wrapper or the runtime keeps it elsewhere.
    /// </summary>
    public static WebSocket MessageSocket(WebSocket accepted, ILogger logger)
    {
        // An exact type check: the field belongs to the wrapper, and any other socket is used as it is.
        if (Inner.Read is { } read && accepted.GetType() == Wrapper && read(accepted) is { } inner)
        {
            return inner;
        }

        if (Interlocked.Exchange(ref fallbackLogged, 1) == 0 && logger.IsEnabled(LogLevel.Debug))
        {
            logger.LogDebug(
                "WebSockets are read and written through the accepted {Type} itself ({Reason})",
                accepted.GetType().FullName,
                Inner.Missing ?? "not the wrapper this runtime was expected to hand out");
        }

        return accepted;
    }

    private static (Func<WebSocket, WebSocket>? Read, string? Missing) Find(Type? wrapper)
    {
        var assembly = typeof(HttpListener).Assembly.GetName();
        if (wrapper is null)
        {
            return (null, $"{assembly.Name} {assembly.Version} has no {WrapperName}");
        }

        var field = wrapper.GetField("_inner", BindingFlags.Instance | BindingFlags.NonPublic);
        if (field is null || !typeof(WebSocket).IsAssignableFrom(field.FieldType))
        {
            return (null, $"{assembly.Name} {assembly.Version}'s {WrapperName} has no WebSocket _inner");
        }

        var socket = Expression.Parameter(typeof(WebSocket));
        var read = Expression.Field(Expression.Convert(socket, wrapper), field);
        return (Expression.Lambda<Func<WebSocket, WebSocket>>(Expression.Convert(read, typeof(WebSocket)), socket).Compile(), null);
    }
}
