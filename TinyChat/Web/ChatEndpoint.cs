using System.Net;
using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Hosting;
using TinyChat.Protocols.Json;

namespace TinyChat.Web;

/// <summary><c>GET /chat</c>: authenticates, upgrades to a WebSocket and runs the native JSON protocol on it.</summary>
public sealed class ChatEndpoint(
    ChatServer chat,
    OpenConnections connections,
    ClientAddressLimits addressLimits,
    IOptions<WebSocketOptions> options,
    IOptions<LimitsOptions> limitOptions,
    ILogger<ChatEndpoint> logger)
{
    /// <summary>Handles one request until its WebSocket (if any) closes.</summary>
    public async Task HandleAsync(HttpListenerContext context, CancellationToken cancellationToken)
    {
        var request = context.Request;
        if (request.HttpMethod != "GET")
        {
            await HttpReply.MethodNotAllowedAsync(context.Response, "GET").ConfigureAwait(false);
            return;
        }

        if (!request.IsWebSocketRequest)
        {
            await HttpReply.ErrorAsync(context.Response, 400, "upgrade_required", "/chat speaks WebSocket: send an upgrade request").ConfigureAwait(false);
            return;
        }

        if (!OriginAllowed(request))
        {
            logger.LogWarning("Refused WebSocket upgrade from origin {Origin}", request.Headers["Origin"]);
            await HttpReply.ErrorAsync(context.Response, 403, "origin_not_allowed", "this origin may not open chat connections").ConfigureAwait(false);
            return;
        }

        if (!addressLimits.TryConnect(request.RemoteEndPoint?.Address))
        {
            await HttpReply.ErrorAsync(context.Response, 429, "rate_limited", "too many new connections from your address; try again later").ConfigureAwait(false);
            return;
        }

        var token = AccessToken(request);
        if (string.IsNullOrEmpty(token))
        {
            await HttpReply.ErrorAsync(context.Response, 401, "missing_token", "an access token is required (access_token query parameter or Authorization: Bearer)").ConfigureAwait(false);
            return;
        }

        var user = await chat.Accounts.AuthenticateAsync(token, cancellationToken).ConfigureAwait(false);
        if (user is null)
        {
            await HttpReply.ErrorAsync(context.Response, 401, "invalid_token", "the access token is not valid").ConfigureAwait(false);
            return;
        }

        var maxConnections = limitOptions.Value.MaxConnectionsPerUser;
        if (chat.Sessions.FindOnline(user)?.Connections >= maxConnections)
        {
            await HttpReply.ErrorAsync(context.Response, 429, "too_many_connections", $"a user may have at most {maxConnections} open connections").ConfigureAwait(false);
            return;
        }

        var settings = options.Value;
        var keepAlive = settings.KeepAliveSeconds > 0 ? TimeSpan.FromSeconds(settings.KeepAliveSeconds) : TimeSpan.Zero;
        var accepted = await context.AcceptWebSocketAsync(null, settings.ReceiveBufferBytes, keepAlive).ConfigureAwait(false);
        var limits = new ConnectionLimits(settings.MaxMessageBytes, settings.OutboxCapacity, settings.ReceiveBufferBytes);
        var batch = request.QueryString["batch"] == "1";
        var connection = new WebSocketConnection(accepted.WebSocket, new JsonFrameEncoder(batch), limits, user, chat.Time, context.Response.Abort);
        connections.Add(connection);
        ChatClient? client = null;
        try
        {
            client = await chat.ConnectAsync(user, connection, cancellationToken).ConfigureAwait(false);
            logger.LogDebug("Connection {Connection} opened for {User}", connection.Id, user);
            var protocol = new JsonChatProtocol(client, connection, FrameLimits());
            await protocol.GreetAsync(cancellationToken).ConfigureAwait(false);
            await connection.RunAsync(protocol, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (client is not null)
        {
            // One client's input must never reach further than its own connection: log once, with context, and close it.
            logger.LogError(ex, "Connection {Connection} of {User} failed and was closed", connection.Id, user);
            connection.Close(WebSocketCloseStatus.InternalServerError, "internal error", drain: false);
            connection.Abort();
        }
        catch (Exception ex) when (client is null)
        {
            logger.LogWarning(ex, "Connection {Connection} of {User} could not join its session", connection.Id, user);
            connection.Close(WebSocketCloseStatus.InternalServerError, "session unavailable, reconnect", drain: false);
            await connection.RunAsync(new JsonDiscard(), cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (client is not null)
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }

            if (connection.ServerCloseReason is { Length: > 0 } reason)
            {
                // Routine closes are information; a client closed for what it did (slow, flooding, oversized) is a warning.
                var routine = connection.ServerCloseStatus is WebSocketCloseStatus.EndpointUnavailable || reason.StartsWith("idle", StringComparison.Ordinal);
                logger.Log(routine ? LogLevel.Information : LogLevel.Warning, "Connection {Connection} of {User} closed by server: {Code} {Reason}", connection.Id, user, (int?)connection.ServerCloseStatus, reason);
            }

            connections.Remove(connection);
        }
    }

    private FrameLimits FrameLimits()
    {
        var limits = limitOptions.Value;
        return new FrameLimits(limits.FramesPerSecond, limits.FrameBurst, limits.FloodDisconnectAfter);
    }

    private bool OriginAllowed(HttpListenerRequest request)
    {
        // Browsers always send Origin on WebSocket upgrades; other clients (bots, IRC bridges) need no origin.
        var origin = request.Headers["Origin"];
        if (string.IsNullOrEmpty(origin))
        {
            return true;
        }

        if (!Uri.TryCreate(origin, UriKind.Absolute, out var originUri))
        {
            return false;
        }

        var host = request.Headers["Host"];
        if (host is not null && string.Equals(originUri.Authority, host, StringComparison.OrdinalIgnoreCase) && originUri.Scheme is "http" or "https")
        {
            return true;
        }

        return limitOptions.Value.AllowedOrigins.Any(allowed => string.Equals(allowed.TrimEnd('/'), origin.TrimEnd('/'), StringComparison.OrdinalIgnoreCase));
    }

    private static string? AccessToken(HttpListenerRequest request)
    {
        var header = request.Headers["Authorization"];
        if (header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return header["Bearer ".Length..].Trim();
        }

        return request.QueryString["access_token"];
    }

    private sealed class JsonDiscard : IFrameHandler
    {
        public ValueTask OnTextAsync(ReadOnlyMemory<byte> utf8, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnBinaryAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
