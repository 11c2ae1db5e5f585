using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using TinyChat.Runtime;

namespace TinyChat.Protocols.Irc;

/// <summary>
/// The IRC front door: a TCP listener on <c>Irc:Host</c>/<c>Irc:Port</c>; each accepted client runs an
/// <see cref="IrcSession"/> over an <see cref="IrcConnection"/>. On shutdown every client gets <c>ERROR</c> and is closed.
/// </summary>
public sealed class IrcServer(IrcFrontDoor door, string host, ILogger<IrcServer> logger) : IHostedService
{
    private static readonly TimeSpan ShutdownGrace = TimeSpan.FromSeconds(3);
    private readonly CancellationTokenSource stopping = new();
    private static readonly KeyValuePair<string, object?> Irc = ChatMetrics.Protocol("irc");
    private readonly ConcurrentDictionary<IrcConnection, Task> open = new();

    // Accepted sessions in arrival order, for the cap on those still registering; only the accept loop touches it.
    private readonly LinkedList<IrcSession> registering = new();
    private TcpListener? listener;
    private Task? acceptLoop;

    /// <summary>Where the server listens once started (a port of 0 in the options becomes the bound port here).</summary>
    public IPEndPoint? Endpoint { get; private set; }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken)
    {
        var address = host switch
        {
            "*" or "+" or "0.0.0.0" or "" => IPAddress.Any,
            "localhost" => IPAddress.Loopback,
            _ => IPAddress.TryParse(host, out var ip) ? ip : Dns.GetHostAddresses(host).First(),
        };
        try
        {
            listener = new TcpListener(address, door.Options.Port);
            listener.Start();
        }
        catch (SocketException ex)
        {
            throw new StartupException($"cannot listen for IRC on {host}:{door.Options.Port} (Irc:Host, Irc:Port): {ex.Message}; pick another port with --Irc:Port N or turn IRC off with --Irc:Enabled false");
        }

        Endpoint = (IPEndPoint)listener.LocalEndpoint;
        acceptLoop = AcceptLoopAsync(listener, stopping.Token);
        logger.LogInformation("IRC listening on {Endpoint} as {ServerName}", Endpoint, door.Options.ServerName);
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await stopping.CancelAsync().ConfigureAwait(false);
        listener?.Stop();
        if (acceptLoop is not null)
        {
            await acceptLoop.ConfigureAwait(false);
        }

        foreach (var connection in open.Keys)
        {
            connection.Close("Closing link: server shutting down", drain: true);
        }

        await Task.WhenAny(Task.WhenAll(open.Values), Task.Delay(ShutdownGrace, door.Time)).ConfigureAwait(false);
        foreach (var connection in open.Keys)
        {
            connection.Abort();
        }
    }

    private async Task AcceptLoopAsync(TcpListener listening, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await listening.AcceptSocketAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            socket.NoDelay = true;
            var connection = new IrcConnection(socket, door.Plain, door.Options.OutboxCapacity, door.Time);
            var session = new IrcSession(door, connection);
            ChatMetrics.Connections.Add(1, Irc);
            open[connection] = ServeAsync(connection, session, cancellationToken);
            CapRegistering(session);
        }
    }

    /// <summary>
    /// Keeps at most <c>Irc:MaxUnregisteredConnections</c> connections registering: past it the oldest one is
    /// closed, so connections that never register (slowloris) cannot crowd out a client that does.
    /// </summary>
    private void CapRegistering(IrcSession newcomer)
    {
        registering.AddLast(newcomer);
        while (registering.First is { Value: var oldest } && (oldest.IsRegistered || oldest.IsClosed))
        {
            registering.RemoveFirst();
        }

        if (registering.Count <= door.Options.MaxUnregisteredConnections)
        {
            return;
        }

        // Over the cap only by the list's count: drop those that registered or left since, then the oldest waiting.
        for (var node = registering.First; node is not null;)
        {
            var next = node.Next;
            if (node.Value.IsRegistered || node.Value.IsClosed)
            {
                registering.Remove(node);
            }

            node = next;
        }

        var dropped = 0;
        while (registering.Count > door.Options.MaxUnregisteredConnections && registering.First is { Value: var oldest })
        {
            registering.RemoveFirst();
            oldest.TooManyRegistering();
            dropped++;
        }

        if (dropped > 0)
        {
            ChatMetrics.Disconnects.Add(dropped, ChatMetrics.Reason("pending_cap"));
            logger.LogWarning("Closed {Count} IRC connections over Irc:MaxUnregisteredConnections ({Max}) that had not registered", dropped, door.Options.MaxUnregisteredConnections);
        }
    }

    private async Task ServeAsync(IrcConnection connection, IrcSession session, CancellationToken cancellationToken)
    {
        await Task.Yield();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(door.Options.RegistrationTimeoutSeconds), door.Time);
        using var registration = timeout.Token.Register(session.RegistrationTimedOut);
        try
        {
            await connection.RunAsync(line => session.OnLineAsync(line, cancellationToken), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogError(ex, "IRC connection from {Address} failed", connection.Address);
            connection.Abort();
        }
        finally
        {
            try
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                logger.LogWarning(ex, "IRC session of {Address} did not end cleanly", connection.Address);
            }

            open.TryRemove(connection, out _);
            ChatMetrics.Connections.Add(-1, Irc);
        }
    }
}
