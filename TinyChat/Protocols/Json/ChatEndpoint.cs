using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Protocols.Json;

/// <summary><c>GET /chat</c>: authenticates, upgrades to a WebSocket and runs the native JSON protocol on it.</summary>
public sealed class ChatEndpoint(
    ChatServer chat,
    OpenConnections connections,
    ConnectionGate gate,
    SignIns signIns,
    ClientAddresses addresses,
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

        if (Framing(request.QueryString["batch"]) is not { } framing)
        {
            await new HttpRefusal(400, "invalid_batch", "batch must be 0, 1 or 2").WriteAsync(context.Response, endConnection: true).ConfigureAwait(false);
            return;
        }

        if (gate.Check(request) is { } refusal)
        {
            await refusal.WriteAsync(context.Response, endConnection: true).ConfigureAwait(false);
            return;
        }

        var admitted = await signIns.AdmitAsync(addresses.Of(request), Credentials.AccessToken(request), cancellationToken).ConfigureAwait(false);
        if (admitted.Error is { } error)
        {
            var refused = error.Code == "missing_token"
                ? HttpRefusal.From(error) with { Message = "an access token is required (access_token query parameter or Authorization: Bearer)" }
                : HttpRefusal.From(error);
            await refused.WriteAsync(context.Response, endConnection: true).ConfigureAwait(false);
            return;
        }

        await using var admission = admitted.Value!;
        var user = admission.User;
        var settings = options.Value;
        var keepAlive = settings.KeepAliveSeconds > 0 ? TimeSpan.FromSeconds(settings.KeepAliveSeconds) : TimeSpan.Zero;
        var limits = new ConnectionLimits(settings.MaxMessageBytes, settings.OutboxCapacity, settings.ReceiveBufferBytes);
        var connection = await ListenerWebSockets.AcceptAsync(context, null, keepAlive, new JsonFrameEncoder(framing), limits, user, chat.Time, logger).ConfigureAwait(false);
        await WebSocketLifetime.RunAsync("JSON", admission, connection, connection, client => new JsonChatProtocol(client, connection, FrameLimits()), connections, logger, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The framing a <c>batch</c> query value asks for; null for a value the protocol does not define.</summary>
    public static JsonFraming? Framing(string? batch) => batch switch
    {
        null or "0" => JsonFraming.Single,
        "1" => JsonFraming.Lines,
        "2" => JsonFraming.Groups,
        _ => null,
    };

    private FrameLimits FrameLimits()
    {
        var limits = limitOptions.Value;
        return new FrameLimits(limits.FramesPerSecond, limits.FrameBurst, limits.FloodDisconnectAfter);
    }
}
