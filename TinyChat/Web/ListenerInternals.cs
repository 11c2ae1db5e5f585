using System.Collections;
using System.Linq.Expressions;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using TinyChat.Runtime;

namespace TinyChat.Web;

/// <summary>One connection of the listener that has not yet delivered a complete request.</summary>
/// <param name="Connection">The listener's connection object (an identity only).</param>
/// <param name="Request">How many requests the connection carried before this one (a new number is a new wait).</param>
/// <param name="Socket">Its socket, to read the peer and to close it.</param>
public readonly record struct WaitingConnection(object Connection, int Request, Socket Socket);

/// <summary>
/// The one place that reads private state of the managed (Linux) <see cref="HttpListener"/>, so that the server can
/// see connections whose request headers have not arrived yet (HttpListener neither times them out once a byte
/// arrived nor exposes them). Nothing here changes the listener's state: the server only closes a socket, which the
/// listener already handles as a client that went away.
/// <para>
/// Contract with System.Net.HttpListener (dotnet/runtime src/libraries/System.Net.HttpListener/src/System/Net/Managed),
/// checked by <see cref="Bind"/> at start and by a live probe (<see cref="HttpServer"/>), which refuse to start
/// with a clear message if it no longer holds:
/// <c>HttpEndPointManager.s_ipEndPoints</c> (static <c>Dictionary&lt;IPAddress, Dictionary&lt;int, HttpEndPointListener&gt;&gt;</c>);
/// <c>HttpEndPointListener._listener</c> and <c>._unregisteredConnections</c> (connections before their first request,
/// a <c>HashSet</c> in .NET 10 and a <c>Dictionary</c> before, locked on itself); <c>HttpListener._connections</c> (connections that carried a request, locked on its
/// <c>ICollection.SyncRoot</c>); <c>HttpConnection._socket</c>, <c>._contextBound</c> (false while reading a request)
/// and <c>._reuses</c> (requests carried before).
/// </para>
/// The getters are compiled once, so a sweep costs a few nanoseconds per open connection and nothing per message.
/// </summary>
public sealed class ListenerInternals
{
    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.NonPublic;
    private readonly FieldInfo endPoints;
    private readonly Func<object, object?> endPointListener;
    private readonly Func<object, object?> unregistered;
    private readonly Func<object, object?> connections;
    private readonly Func<object, Socket?> socket;
    private readonly Func<object, bool> contextBound;
    private readonly Func<object, int> reuses;

    private ListenerInternals(FieldInfo endPoints, Type endPointType, Type connectionType)
    {
        this.endPoints = endPoints;
        endPointListener = Getter<object?>(endPointType, "_listener");
        unregistered = Getter<object?>(endPointType, "_unregisteredConnections");
        connections = Getter<object?>(typeof(HttpListener), "_connections");
        socket = Getter<Socket?>(connectionType, "_socket");
        contextBound = Getter<bool>(connectionType, "_contextBound");
        reuses = Getter<int>(connectionType, "_reuses");
    }

    /// <summary>Finds every member of the contract; throws a <see cref="StartupException"/> naming what is missing.</summary>
    public static ListenerInternals Bind()
    {
        try
        {
            var assembly = typeof(HttpListener).Assembly;
            var manager = assembly.GetType("System.Net.HttpEndPointManager", throwOnError: true)!;
            var endPointType = assembly.GetType("System.Net.HttpEndPointListener", throwOnError: true)!;
            var connectionType = assembly.GetType("System.Net.HttpConnection", throwOnError: true)!;
            var endPoints = manager.GetField("s_ipEndPoints", BindingFlags.Static | BindingFlags.NonPublic)
                ?? throw new MissingFieldException(manager.FullName, "s_ipEndPoints");
            return new ListenerInternals(endPoints, endPointType, connectionType);
        }
        catch (Exception ex) when (ex is TypeLoadException or MissingFieldException or ArgumentException or InvalidOperationException)
        {
            throw Changed(ex.Message);
        }
    }

    /// <summary>The error for a runtime whose HttpListener no longer matches the contract.</summary>
    public static StartupException Changed(string what) => new(
        $"this .NET runtime's HttpListener ({typeof(HttpListener).Assembly.GetName().Version}) no longer matches what TinyChat's " +
        $"request-header timeout relies on ({what}); see TinyChat/Web/ListenerInternals.cs and docs/security.md");

    /// <summary>Every connection of <paramref name="listener"/> still waiting for (the rest of) a request.</summary>
    public List<WaitingConnection> Waiting(HttpListener listener)
    {
        var waiting = new List<WaitingConnection>();
        foreach (var connection in Unregistered(listener))
        {
            Add(waiting, connection);
        }

        if (connections(listener) is ICollection carried)
        {
            foreach (var connection in Copy(carried))
            {
                // A connection serving a request (a WebSocket, an event stream, a long poll) is bound to it.
                if (!contextBound(connection))
                {
                    Add(waiting, connection);
                }
            }
        }

        return waiting;
    }

    private void Add(List<WaitingConnection> waiting, object connection)
    {
        if (socket(connection) is { } open)
        {
            waiting.Add(new WaitingConnection(connection, reuses(connection), open));
        }
    }

    private List<object> Unregistered(HttpListener listener)
    {
        var found = new List<object>();
        if (endPoints.GetValue(null) is not IDictionary byAddress)
        {
            return found;
        }

        // The manager mutates these tables under its own lock; a copy taken under the same lock is consistent.
        lock (((ICollection)byAddress).SyncRoot)
        {
            foreach (IDictionary byPort in byAddress.Values)
            {
                foreach (var endPoint in byPort.Values)
                {
                    if (endPoint is not null && ReferenceEquals(endPointListener(endPoint), listener) && unregistered(endPoint) is IEnumerable pending)
                    {
                        found.AddRange(Copy(pending));
                    }
                }
            }
        }

        return found;
    }

    // The listener locks each of its collections on the collection itself (a Dictionary's SyncRoot is the dictionary)
    // while it changes them; should a runtime lock elsewhere, a copy that meets a change is simply taken again.
    private static List<object> Copy(IEnumerable collection)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                lock (collection is ICollection c ? c.SyncRoot : collection)
                {
                    return collection is IDictionary dictionary ? [.. dictionary.Keys.Cast<object>()] : [.. collection.Cast<object>()];
                }
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
            }
        }
    }

    private static Func<object, T> Getter<T>(Type type, string name)
    {
        var field = type.GetField(name, Instance) ?? throw new MissingFieldException(type.FullName, name);
        if (!typeof(T).IsAssignableFrom(field.FieldType))
        {
            throw new MissingFieldException($"{type.FullName}.{name} is a {field.FieldType}, expected {typeof(T)}");
        }

        var instance = Expression.Parameter(typeof(object));
        var read = Expression.Field(Expression.Convert(instance, type), field);
        return Expression.Lambda<Func<object, T>>(Expression.Convert(read, typeof(T)), instance).Compile();
    }
}
