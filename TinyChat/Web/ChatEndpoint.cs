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
    IOptions<WebSocketOptions> options,
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

        var settings = options.Value;
        var keepAlive = settings.KeepAliveSeconds > 0 ? TimeSpan.FromSeconds(settings.KeepAliveSeconds) : TimeSpan.Zero;
        var accepted = await context.AcceptWebSocketAsync(null, settings.ReceiveBufferBytes, keepAlive).ConfigureAwait(false);
        var limits = new ConnectionLimits(settings.MaxMessageBytes, settings.OutboxCapacity, settings.ReceiveBufferBytes);
        var batch = request.QueryString["batch"] == "1";
        var connection = new WebSocketConnection(accepted.WebSocket, JsonEventEncoder.Instance, limits, batch, user);
        connections.Add(connection);
        ChatClient? client = null;
        try
        {
            client = await chat.ConnectAsync(user, connection, cancellationToken).ConfigureAwait(false);
            logger.LogDebug("Connection {Connection} opened for {User}", connection.Id, user);
            var protocol = new JsonChatProtocol(client, connection);
            await protocol.GreetAsync(cancellationToken).ConfigureAwait(false);
            await connection.RunAsync(protocol, cancellationToken).ConfigureAwait(false);
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

            connections.Remove(connection);
            if (connection.ServerCloseReason is { Length: > 0 } reason)
            {
                logger.LogInformation("Connection {Connection} of {User} closed by server: {Reason}", connection.Id, user, reason);
            }
        }
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
