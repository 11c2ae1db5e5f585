using System.Buffers.Text;
using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Protocols.Json;
using TinyChat.Web;

namespace TinyChat.Protocols.Phoenix;

/// <summary>
/// <c>GET /socket/websocket</c>: Phoenix Channels for clients written with phoenix.js. Authenticates (the
/// <c>token</c> param, phoenix.js's <c>authToken</c> subprotocol, or a bearer header), applies the connection gate,
/// upgrades and runs <see cref="PhoenixChannelProtocol"/> in the serializer the client asked for (<c>vsn</c>).
/// </summary>
public sealed class PhoenixEndpoint(
    ChatServer chat,
    OpenConnections connections,
    ConnectionGate gate,
    SignIns signIns,
    ClientAddresses addresses,
    IOptions<WebSocketOptions> options,
    IOptions<LimitsOptions> limitOptions,
    ILogger<PhoenixEndpoint> logger)
{
    /// <summary>The subprotocol phoenix.js offers with its auth token, and the one the server answers with.</summary>
    public const string Subprotocol = "phoenix";

    /// <summary>The prefix of phoenix.js's token subprotocol: <c>base64url.bearer.phx.BASE64(token)</c>.</summary>
    public const string AuthTokenPrefix = "base64url.bearer.phx.";

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
            await HttpReply.ErrorAsync(context.Response, 400, "upgrade_required", "/socket/websocket speaks WebSocket: send an upgrade request").ConfigureAwait(false);
            return;
        }

        if (Version(request) is not { } version)
        {
            await HttpReply.ErrorAsync(context.Response, 400, "unsupported_vsn", "vsn must be 1.0.0 or 2.0.0").ConfigureAwait(false);
            return;
        }

        if (gate.Check(request) is { } refusal)
        {
            await refusal.WriteAsync(context.Response, endConnection: true).ConfigureAwait(false);
            return;
        }

        var offered = OfferedSubprotocols(request);
        var admitted = await signIns.AdmitAsync(addresses.Of(request), Token(request, offered), cancellationToken).ConfigureAwait(false);
        if (admitted.Error is { } error)
        {
            var refused = error.Code == "missing_token"
                ? HttpRefusal.From(error) with { Message = "an access token is required (token param, authToken option or Authorization: Bearer)" }
                : HttpRefusal.From(error);
            await refused.WriteAsync(context.Response, endConnection: true).ConfigureAwait(false);
            return;
        }

        await using var admission = admitted.Value!;
        var user = admission.User;
        var settings = options.Value;
        var keepAlive = settings.KeepAliveSeconds > 0 ? TimeSpan.FromSeconds(settings.KeepAliveSeconds) : TimeSpan.Zero;
        var subprotocol = offered.Contains(Subprotocol) ? Subprotocol : null;
        var limits = new ConnectionLimits(settings.MaxMessageBytes, settings.OutboxCapacity, settings.ReceiveBufferBytes);
        var connection = await ListenerWebSockets.AcceptAsync(context, subprotocol, keepAlive, new PhoenixFrameEncoder(version), limits, user, chat.Time, logger).ConfigureAwait(false);
        var link = new WebSocketLink(connection);
        var subscriptions = new PhoenixSubscriptions(link, PhoenixEventEncoder.For(version), settings.OutboxCapacity);
        await WebSocketLifetime.RunAsync("Phoenix", admission, connection, subscriptions, client => new PhoenixChannelProtocol(client, subscriptions, link, version, FrameLimits(limitOptions.Value)), connections, logger, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The serializer of <c>vsn</c> (Phoenix's default, 1.0.0, when absent), or null when unsupported.</summary>
    public static PhoenixVersion? Version(HttpListenerRequest request) => request.QueryString["vsn"] switch
    {
        null or "1.0.0" => PhoenixVersion.V1,
        "2.0.0" => PhoenixVersion.V2,
        _ => null,
    };

    /// <summary>The per-connection frame budget, the same as the native protocol's.</summary>
    public static FrameLimits FrameLimits(LimitsOptions limits) => new(limits.FramesPerSecond, limits.FrameBurst, limits.FloodDisconnectAfter);

    /// <summary>The token: phoenix.js's <c>authToken</c> subprotocol, else the <c>token</c> param, else a bearer header or <c>access_token</c>.</summary>
    public static string? Token(HttpListenerRequest request, IReadOnlyList<string> offeredSubprotocols)
    {
        foreach (var offered in offeredSubprotocols)
        {
            if (offered.StartsWith(AuthTokenPrefix, StringComparison.Ordinal))
            {
                return DecodeAuthToken(offered[AuthTokenPrefix.Length..]);
            }
        }

        return request.QueryString["token"] is { Length: > 0 } token ? token : Credentials.AccessToken(request);
    }

    /// <summary>
    /// phoenix.js sends <c>btoa(token)</c> without padding (standard alphabet despite the name); both alphabets are
    /// accepted. Null when it is not base64 or not UTF-8.
    /// </summary>
    public static string? DecodeAuthToken(string encoded)
    {
        var normalized = encoded.Replace('+', '-').Replace('/', '_').TrimEnd('=');
        if (!Base64Url.IsValid(normalized))
        {
            return null;
        }

        try
        {
            return new UTF8Encoding(false, true).GetString(Base64Url.DecodeFromChars(normalized));
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException)
        {
            return null;
        }
    }

    private static List<string> OfferedSubprotocols(HttpListenerRequest request)
    {
        var offered = new List<string>();
        foreach (var header in request.Headers.GetValues("Sec-WebSocket-Protocol") ?? [])
        {
            foreach (var part in header.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
            {
                offered.Add(part);
            }
        }

        return offered;
    }

    private sealed class WebSocketLink(WebSocketConnection connection) : IPhoenixLink
    {
        public bool TryDeliver(ChatEvent chatEvent) => connection.TryDeliver(chatEvent);

        public bool TryDeliver(Reply reply) => connection.TryDeliver(reply);

        public void Close(int code, string reason) => connection.Close((WebSocketCloseStatus)code, reason, drain: false);

        public void Disconnect(string reason) => connection.Disconnect(reason);

        public int Capacity => connection.OutboxCapacity;

        public Task WhenQueuedAtMostAsync(int items, CancellationToken cancellationToken) => connection.WhenQueuedAtMostAsync(items, cancellationToken);
    }
}
