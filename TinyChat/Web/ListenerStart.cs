using System.Collections;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Runtime.CompilerServices;
using TinyChat.Runtime;

namespace TinyChat.Web;

/// <summary>
/// Starts an <see cref="HttpListener"/> without the managed (Linux) listener's start-up race. The runtime's
/// <c>HttpEndPointListener</c> constructor binds, listens and starts accepting before it creates the collections
/// an accepted connection is filed in (.NET 10 assigns <c>_prefixes</c> and <c>_unregisteredConnections</c> after
/// the first <c>Accept</c>). A client that connects in that moment (a readiness probe, browsers reconnecting after a
/// restart) makes the accept handler lock on null: on the starting thread <c>Start</c> throws
/// <see cref="ArgumentNullException"/> and leaves behind a listening socket that nothing can close, and on a pool
/// thread the unhandled exception ends the process. Retrying <c>Start</c> cannot help (the orphaned socket keeps the
/// port and ends the process at its next connection), so the endpoint is opened here in the safe order: the
/// endpoint listener with every field set, registered where <c>Start</c> looks for it, and only then the first
/// accept. <c>Start</c> then finds the endpoint open and only adds its prefixes.
/// <para>
/// Contract with System.Net.HttpListener (besides <see cref="ListenerInternals"/>'): <c>HttpEndPointManager.GetEPListener</c>
/// keys endpoints by <c>IPAddress.Any</c> for the hosts <c>+</c> and <c>*</c>, else by the first address DNS gives for
/// the host; <c>HttpEndPointListener</c> has exactly the fields <c>_listener</c>, <c>_endpoint</c>, <c>_socket</c>,
/// <c>_prefixes</c>, <c>_unregisteredConnections</c>, <c>_unhandledPrefixes</c>, <c>_allPrefixes</c>, <c>_cert</c>
/// and <c>_secure</c> (the last four empty for plain HTTP), an instance <c>Accept(SocketAsyncEventArgs)</c> and a
/// static <c>OnAccept</c> handler. <see cref="Bind"/> checks it and refuses to start with a clear message if it changed.
/// </para>
/// </summary>
public sealed class ListenerStart
{
    // As the runtime's constructor.
    private const int Backlog = 500;
    private const BindingFlags Instance = BindingFlags.Instance | BindingFlags.NonPublic;

    private static readonly string[] Fields = ["_listener", "_endpoint", "_socket", "_prefixes", "_unregisteredConnections", "_unhandledPrefixes", "_allPrefixes", "_cert", "_secure"];

    private readonly FieldInfo endPoints;
    private readonly MethodInfo removeEndPoint;
    private readonly Type endPointType;
    private readonly Dictionary<string, FieldInfo> fields;
    private readonly MethodInfo accept;
    private readonly EventHandler<SocketAsyncEventArgs> onAccept;

    private ListenerStart(FieldInfo endPoints, MethodInfo removeEndPoint, Type endPointType, Dictionary<string, FieldInfo> fields, MethodInfo accept, EventHandler<SocketAsyncEventArgs> onAccept)
    {
        this.endPoints = endPoints;
        this.removeEndPoint = removeEndPoint;
        this.endPointType = endPointType;
        this.fields = fields;
        this.accept = accept;
        this.onAccept = onAccept;
    }

    /// <summary>Finds every member of the contract; throws a <see cref="StartupException"/> naming what is missing.</summary>
    public static ListenerStart Bind()
    {
        try
        {
            var assembly = typeof(HttpListener).Assembly;
            var manager = assembly.GetType("System.Net.HttpEndPointManager", throwOnError: true)!;
            var endPointType = assembly.GetType("System.Net.HttpEndPointListener", throwOnError: true)!;
            var endPoints = manager.GetField("s_ipEndPoints", BindingFlags.Static | BindingFlags.NonPublic)
                ?? throw new MissingFieldException(manager.FullName, "s_ipEndPoints");
            var removeEndPoint = manager.GetMethod("RemoveEndPoint", BindingFlags.Static | BindingFlags.Public | BindingFlags.NonPublic, [endPointType, typeof(IPEndPoint)])
                ?? throw new MissingMethodException(manager.FullName, "RemoveEndPoint");
            var found = endPointType.GetFields(Instance | BindingFlags.Public).ToDictionary(f => f.Name, StringComparer.Ordinal);
            if (!found.Keys.Order(StringComparer.Ordinal).SequenceEqual(Fields.Order(StringComparer.Ordinal)))
            {
                throw new MissingFieldException($"{endPointType.FullName} has the fields {string.Join(", ", found.Keys)}, expected {string.Join(", ", Fields)}");
            }

            Expect(found["_listener"], typeof(HttpListener));
            Expect(found["_endpoint"], typeof(IPEndPoint));
            Expect(found["_socket"], typeof(Socket));
            Expect(found["_prefixes"], typeof(IDictionary));
            Expect(found["_unregisteredConnections"], typeof(IEnumerable));
            var accept = endPointType.GetMethod("Accept", Instance, [typeof(SocketAsyncEventArgs)])
                ?? throw new MissingMethodException(endPointType.FullName, "Accept");
            var handler = endPointType.GetMethod("OnAccept", BindingFlags.Static | BindingFlags.NonPublic, [typeof(object), typeof(SocketAsyncEventArgs)])
                ?? throw new MissingMethodException(endPointType.FullName, "OnAccept");
            var onAccept = handler.CreateDelegate<EventHandler<SocketAsyncEventArgs>>();
            return new ListenerStart(endPoints, removeEndPoint, endPointType, found, accept, onAccept);
        }
        catch (Exception ex) when (ex is TypeLoadException or MissingMemberException or ArgumentException or InvalidOperationException)
        {
            throw ListenerInternals.Changed(ex.Message);
        }
    }

    /// <summary>
    /// Opens the sockets of <paramref name="listener"/>'s prefixes (all on one port) safely, then starts it. A socket
    /// error (the port is taken) is thrown as the <see cref="HttpListenerException"/> <c>Start</c> would throw.
    /// </summary>
    public void Start(HttpListener listener)
    {
        var opened = new List<(object EndPoint, IPEndPoint Address)>();
        try
        {
            foreach (var prefix in listener.Prefixes)
            {
                if (Address(prefix) is { } address && Open(listener, address) is { } endPoint)
                {
                    opened.Add((endPoint, address));
                }
            }

            listener.Start();
        }
        catch
        {
            Close(opened);

            // As a failed Start leaves it: closed, so that disposing it does not try to open the endpoint again.
            listener.Abort();
            throw;
        }
    }

    // The endpoint the runtime files the prefix under; null when it would refuse the host itself (Start says why).
    private static IPEndPoint? Address(string prefix)
    {
        var authority = prefix[(prefix.IndexOf("://", StringComparison.Ordinal) + 3)..];
        authority = authority[..authority.IndexOf('/', StringComparison.Ordinal)];
        var colon = authority.LastIndexOf(':');
        var host = authority[..colon];
        var port = int.Parse(authority[(colon + 1)..], CultureInfo.InvariantCulture);
        if (host is "+" or "*")
        {
            return new IPEndPoint(IPAddress.Any, port);
        }

        try
        {
            var address = Dns.GetHostAddresses(host)[0];
            return IPAddress.Any.Equals(address) ? null : new IPEndPoint(address, port);
        }
        catch (Exception ex) when (ex is SocketException or ArgumentException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    private object? Open(HttpListener listener, IPEndPoint address)
    {
        var byAddress = (IDictionary)endPoints.GetValue(null)!;
        lock (byAddress.SyncRoot)
        {
            var byPort = (IDictionary?)byAddress[address.Address];
            if (byPort is not null && byPort.Contains(address.Port))
            {
                // Already open (another prefix of this listener, or another listener in this process).
                return null;
            }

            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                socket.Bind(address);
                socket.Listen(Backlog);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                throw new HttpListenerException(ex.ErrorCode, ex.Message);
            }

            var endPoint = RuntimeHelpers.GetUninitializedObject(endPointType);
            fields["_listener"].SetValue(endPoint, listener);
            fields["_endpoint"].SetValue(endPoint, address);
            fields["_socket"].SetValue(endPoint, socket);
            fields["_prefixes"].SetValue(endPoint, Activator.CreateInstance(fields["_prefixes"].FieldType));
            fields["_unregisteredConnections"].SetValue(endPoint, Activator.CreateInstance(fields["_unregisteredConnections"].FieldType));
            if (byPort is null)
            {
                byPort = (IDictionary)Activator.CreateInstance(endPoints.FieldType.GetGenericArguments()[1])!;
                byAddress[address.Address] = byPort;
            }

            byPort[address.Port] = endPoint;

            // Everything is in place: now the first connection may arrive.
            var accepting = new SocketAsyncEventArgs { UserToken = endPoint };
            accepting.Completed += onAccept;
            accept.Invoke(endPoint, [accepting]);
            return endPoint;
        }
    }

    // After a failed start: closes the endpoints opened here that are still registered (a prefix the runtime added
    // and then removed has closed its endpoint already).
    private void Close(List<(object EndPoint, IPEndPoint Address)> opened)
    {
        var byAddress = (IDictionary)endPoints.GetValue(null)!;
        lock (byAddress.SyncRoot)
        {
            foreach (var (endPoint, address) in opened)
            {
                if (byAddress[address.Address] is IDictionary byPort && ReferenceEquals(byPort[address.Port], endPoint))
                {
                    removeEndPoint.Invoke(null, [endPoint, address]);
                }
            }
        }
    }

    private static void Expect(FieldInfo field, Type type)
    {
        if (!type.IsAssignableFrom(field.FieldType))
        {
            throw new MissingFieldException($"{field.DeclaringType?.FullName}.{field.Name} is a {field.FieldType}, expected {type}");
        }
    }
}
