using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Runtime;

namespace TinyChat.Web;

/// <summary>Where the server listens once started (port 0 in the configuration becomes a real port here).</summary>
public sealed class ServerAddress
{
    /// <summary>Base URI, e.g. <c>http://localhost:4000/</c>; null before start.</summary>
    public Uri? BaseUri { get; internal set; }
}

/// <summary>
/// The <see cref="HttpListener"/> front: accepts requests, routes them (the <see cref="RouteTable"/>, then static files), owns the open WebSockets,
/// sweeps idle connections and shuts them down with 1001.
/// </summary>
public sealed class HttpServer(
    IOptions<ServerOptions> serverOptions,
    IOptions<WebSocketOptions> webSocketOptions,
    StaticFiles staticFiles,
    RouteTable routes,
    OpenConnections connections,
    ClientAddressLimits addressLimits,
    PendingConnections pending,
    IOptions<LimitsOptions> limits,
    ServerAddress address,
    TimeProvider time,
    ILogger<HttpServer> logger) : IHostedService
{
    private const int BindAttempts = 10;
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);
    private readonly CancellationTokenSource stopping = new();
    private HttpListener? listener;
    private Task? acceptLoop;
    private Task? idleSweep;
    private Task? pendingSweep;
    private volatile bool accepting;

    /// <inheritdoc />
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = serverOptions.Value;

        // Linux's managed listener can crash when a client connects while it starts: ListenerStart opens it safely.
        var start = OperatingSystem.IsWindows() ? null : ListenerStart.Bind();
        for (var attempt = 1; ; attempt++)
        {
            var port = options.Port == 0 ? FreePort() : options.Port;
            var host = options.Host is "*" or "+" or "0.0.0.0" ? "+" : options.Host;
            // Write errors must surface: an event stream learns that its client is gone only from a failed write.
            var candidate = new HttpListener { IgnoreWriteExceptions = false };
            candidate.Prefixes.Add($"http://{host}:{port}/");
            if (host == "localhost")
            {
                // Browsers and tools send Host: 127.0.0.1 as often as localhost; HttpListener matches on it.
                candidate.Prefixes.Add($"http://127.0.0.1:{port}/");
            }
            try
            {
                if (start is null)
                {
                    candidate.Start();
                }
                else
                {
                    start.Start(candidate);
                }

                listener = candidate;
                address.BaseUri = new Uri($"http://{(host == "+" ? "localhost" : host)}:{port}/");
                break;
            }
            catch (HttpListenerException) when (options.Port == 0 && attempt < BindAttempts)
            {
                // Another process took the free port between probe and bind: probe again.
                candidate.Close();
            }
            catch (HttpListenerException ex)
            {
                candidate.Close();
                throw new StartupException($"cannot listen on {host}:{port} (Server:Host, Server:Port): {ex.Message}; is another server running there? Pick another port with --port N");
            }
        }

        accepting = true;
        acceptLoop = AcceptLoopAsync(listener);
        try
        {
            var internals = await ProbeAsync(listener, options, cancellationToken).ConfigureAwait(false);
            pendingSweep = internals is null ? Task.CompletedTask : SweepPendingAsync(listener, internals, stopping.Token);
        }
        catch
        {
            listener.Close();
            throw;
        }

        idleSweep = SweepIdleAsync(stopping.Token);
        logger.LogInformation("TinyChat listening on {Address} (static files from {StaticRoot})", address.BaseUri, staticFiles.Root);
    }

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        // Stop taking new work first; the listener stays up until the WebSockets it carries have said goodbye.
        accepting = false;
        var grace = TimeSpan.FromSeconds(serverOptions.Value.ShutdownGraceSeconds);
        logger.LogInformation("Closing {Connections} WebSocket connections (1001)", connections.Count);
        await connections.CloseAllAsync(grace).ConfigureAwait(false);
        await stopping.CancelAsync().ConfigureAwait(false);
        listener?.Close();
        if (acceptLoop is not null)
        {
            await acceptLoop.ConfigureAwait(false);
        }

        if (idleSweep is not null)
        {
            await idleSweep.ConfigureAwait(false);
        }

        if (pendingSweep is not null)
        {
            await pendingSweep.ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Binds <see cref="ListenerInternals"/> and proves it sees this listener's connections: a probe connection
    /// that sends half a request line must show up as waiting. Fails the start loudly if the runtime changed.
    /// Null on Windows, where http.sys times requests out itself.
    /// </summary>
    private async Task<ListenerInternals?> ProbeAsync(HttpListener httpListener, ServerOptions options, CancellationToken cancellationToken)
    {
        if (OperatingSystem.IsWindows())
        {
            return null;
        }

        var internals = ListenerInternals.Bind();
        var host = address.BaseUri!.Host;
        var target = host == "localhost" || options.Host is "*" or "+" or "0.0.0.0"
            ? IPAddress.Loopback
            : IPAddress.TryParse(host, out var ip) ? ip : (await Dns.GetHostAddressesAsync(host, cancellationToken).ConfigureAwait(false))[0];
        using var probe = new Socket(target.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        await probe.ConnectAsync(new IPEndPoint(target, address.BaseUri.Port), cancellationToken).ConfigureAwait(false);
        await probe.SendAsync("GET /probe HTTP/1."u8.ToArray(), cancellationToken).ConfigureAwait(false);
        var probePort = ((IPEndPoint)probe.LocalEndPoint!).Port;
        // Real time, not the server's clock: this waits on the runtime's own accept thread, and a test's manual clock
        // (which never moves by itself) would make the retry below wait forever.
        var clock = TimeProvider.System;
        var started = clock.GetTimestamp();
        while (clock.GetElapsedTime(started) < ProbeTimeout)
        {
            foreach (var waiting in internals.Waiting(httpListener))
            {
                // Other clients' waiting connections may close under us while we look (a client hammering the port).
                if (PendingConnections.PeerEndPoint(waiting.Socket) is { } peer && peer.Port == probePort)
                {
                    waiting.Socket.Close();
                    return internals;
                }
            }

            // The listener registers an accepted connection on its own thread: look again shortly.
            await Task.Delay(TimeSpan.FromMilliseconds(5), clock, cancellationToken).ConfigureAwait(false);
        }

        throw ListenerInternals.Changed($"a connection sending half a request was not found among the listener's waiting connections within {ProbeTimeout.TotalSeconds} s");
    }

    private async Task SweepPendingAsync(HttpListener httpListener, ListenerInternals internals, CancellationToken cancellationToken)
    {
        using var timer = new PeriodicTimer(pending.Period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                try
                {
                    pending.Sweep(internals.Waiting(httpListener));
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // One bad sweep must not end the defence: the next tick tries again.
                    logger.LogError(ex, "Sweeping connections that wait for request headers failed");
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    private async Task AcceptLoopAsync(HttpListener httpListener)
    {
        while (true)
        {
            HttpListenerContext context;
            try
            {
                context = await httpListener.GetContextAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            _ = HandleAsync(context);
        }
    }

    private async Task HandleAsync(HttpListenerContext context)
    {
        // Off the accept loop before doing any work.
        await Task.Yield();
        var request = context.Request;
        var response = context.Response;
        if (response.StatusCode != 200)
        {
            // The managed listener answered this request itself while parsing it (411 Length Required for a POST or
            // PUT with neither Content-Length nor a chunked body, 501 for another Transfer-Encoding), set the status
            // and is closing the connection, yet hands the request over anyway. Acting on it would do what the client
            // was told failed, and the connection is gone (its peer address throws).
            logger.LogDebug("Request {Method} {Path} was already answered {Status} by HttpListener", request.HttpMethod, request.Url?.AbsolutePath, response.StatusCode);
            return;
        }

        if (request.HasEntityBody)
        {
            // Only a request with a body can leave input unread behind an error answer (see LingeringClose); the
            // others, every WebSocket upgrade among them, cost no entry in its table for as long as they live.
            LingeringClose.Track(context, time);
        }
        try
        {
            if (!accepting)
            {
                await HttpReply.ErrorAsync(response, 503, "shutting_down", "the server is shutting down").ConfigureAwait(false);
                return;
            }

            if (TooLarge(request) is { } refusal)
            {
                await HttpReply.ErrorAsync(response, refusal.Status, refusal.Code, refusal.Message).ConfigureAwait(false);
                return;
            }

            if (routes.Find(request.Url?.AbsolutePath ?? "/") is { } route)
            {
                await route.Handler(context, stopping.Token).ConfigureAwait(false);
                return;
            }

            var file = staticFiles.Resolve(request.RawUrl ?? "/");
            if (file is null)
            {
                await HttpReply.ErrorAsync(response, 404, "not_found", "no such resource").ConfigureAwait(false);
                return;
            }

            if (request.HttpMethod is not ("GET" or "HEAD"))
            {
                await HttpReply.MethodNotAllowedAsync(response, "GET, HEAD").ConfigureAwait(false);
                return;
            }

            await StaticFiles.ServeAsync(response, file, request.HttpMethod == "HEAD").ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException)
        {
            // The client went away mid-response.
        }
        catch (StoreUnavailableException ex)
        {
            // A database outage (for example while authenticating a new connection): the client may retry.
            logger.LogDebug("Request {Method} {Path} refused: {Reason}", request.HttpMethod, request.Url?.AbsolutePath, ex.Message);
            try
            {
                await HttpRefusal.From(ChatError.StoreUnavailable(ex.Cause)).WriteAsync(response).ConfigureAwait(false);
            }
            catch (Exception)
            {
                response.Abort();
            }
        }
        catch (Exception ex)
        {
            // Never log the query string: it may carry an access token.
            logger.LogError(ex, "Request {Method} {Path} failed", request.HttpMethod, request.Url?.AbsolutePath);
            try
            {
                await HttpReply.ErrorAsync(response, 500, "internal_error", "internal server error").ConfigureAwait(false);
            }
            catch (Exception)
            {
                response.Abort();
            }
        }
    }

    private (int Status, string Code, string Message)? TooLarge(HttpListenerRequest request)
    {
        var settings = limits.Value;
        if ((request.RawUrl?.Length ?? 0) > settings.MaxUrlBytes)
        {
            return (414, "uri_too_long", $"request target exceeds {settings.MaxUrlBytes} bytes");
        }

        var headerBytes = 0;
        foreach (string? name in request.Headers)
        {
            headerBytes += (name?.Length ?? 0) + (request.Headers[name]?.Length ?? 0) + 4;
        }

        return headerBytes > settings.MaxHeaderBytes
            ? (431, "headers_too_large", $"request headers exceed {settings.MaxHeaderBytes} bytes")
            : null;
    }

    private async Task SweepIdleAsync(CancellationToken cancellationToken)
    {
        var idle = TimeSpan.FromSeconds(webSocketOptions.Value.IdleTimeoutSeconds);
        var period = TimeSpan.FromMilliseconds(Math.Clamp(idle.TotalMilliseconds / 4, 50, 1000));
        using var timer = new PeriodicTimer(period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false))
            {
                addressLimits.Prune();
                var closedCount = connections.CloseIdle(idle);
                if (closedCount > 0)
                {
                    logger.LogInformation("Closed {Count} idle connections", closedCount);
                }
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
