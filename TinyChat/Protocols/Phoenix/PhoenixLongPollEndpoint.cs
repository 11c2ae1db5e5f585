using System.Buffers.Text;
using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Runtime;
using TinyChat.Web;

namespace TinyChat.Protocols.Phoenix;

/// <summary>
/// <c>/socket/longpoll</c>: Phoenix Channels over HTTP long polling, as phoenix.js falls back to it. A GET without a
/// session opens one (answered <c>{"status":410,"token"}</c>); a GET with the session token waits for messages
/// (<c>200</c> with <c>messages</c>, or <c>204</c> when the window passed); a POST carries pushes as NDJSON.
/// A refused connection answers <c>403</c> (phoenix.js then stops retrying); an unknown or ended session <c>410</c>.
/// Every answer is HTTP 200 with the status in the JSON body, as phoenix.js reads it, except a sign-in refused for
/// too many failed attempts from the address: HTTP 429 (for proxies and logs), the body still <c>{"status":403}</c>.
/// </summary>
public sealed class PhoenixLongPollEndpoint(
    ChatServer chat,
    ConnectionGate gate,
    SignIns signIns,
    ClientAddresses addresses,
    IOptions<WebSocketOptions> options,
    IOptions<LimitsOptions> limitOptions,
    ILogger<PhoenixLongPollEndpoint> logger)
{
    private static readonly KeyValuePair<string, object?> LongPoll = ChatMetrics.Protocol("phoenix_longpoll");
    private readonly ConcurrentDictionary<string, LongPollSession> sessions = new(StringComparer.Ordinal);

    /// <summary>How long a poll waits for messages before it is answered 204 (phoenix.js gives up after 20 s).</summary>
    public TimeSpan PollWindow { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Sessions open now.</summary>
    public int Count => sessions.Count;

    /// <summary>Handles one request.</summary>
    public async Task HandleAsync(HttpListenerContext context, CancellationToken cancellationToken)
    {
        var request = context.Request;
        if (request.HttpMethod is not ("GET" or "POST"))
        {
            await HttpReply.MethodNotAllowedAsync(context.Response, "GET, POST").ConfigureAwait(false);
            return;
        }

        if (PhoenixEndpoint.Version(request) is not { } version)
        {
            await HttpReply.ErrorAsync(context.Response, 400, "unsupported_vsn", "vsn must be 1.0.0 or 2.0.0").ConfigureAwait(false);
            return;
        }

        // The user's params travel on every request, so a "token" param may be the access token, the session
        // token, or both (phoenix.js appends the session's after the user's); a live session's token wins.
        var tokens = request.QueryString.GetValues("token") ?? [];
        var session = tokens.Select(t => sessions.GetValueOrDefault(t)).LastOrDefault(s => s is not null);
        if (session is null)
        {
            if (request.HttpMethod == "POST" || tokens.Length > 1)
            {
                await StatusAsync(context.Response, 410, null).ConfigureAwait(false);
                return;
            }

            await OpenAsync(context, version, tokens.FirstOrDefault(), cancellationToken).ConfigureAwait(false);
            return;
        }

        if (request.HttpMethod == "GET")
        {
            await PollAsync(context, session, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await PublishAsync(context, session, cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task OpenAsync(HttpListenerContext context, PhoenixVersion version, string? tokenParam, CancellationToken cancellationToken)
    {
        var request = context.Request;
        if (gate.Check(request) is { } refusal)
        {
            logger.LogInformation("Long-poll connection refused: {Code}", refusal.Code);
            await StatusAsync(context.Response, 403, null).ConfigureAwait(false);
            return;
        }

        var token = request.Headers["X-Phoenix-AuthToken"] is { Length: > 0 } header ? header : tokenParam ?? Credentials.AccessToken(request);
        var admitted = await signIns.AdmitAsync(addresses.Of(request), token, cancellationToken).ConfigureAwait(false);
        if (admitted.Error is { } error)
        {
            logger.LogInformation("Long-poll connection refused: {Code}", error.Code);
            if (error.Code == SignIns.Code)
            {
                context.Response.Headers["Retry-After"] = "60";
            }

            await StatusAsync(context.Response, 403, null, error.Code == SignIns.Code ? 429 : 200).ConfigureAwait(false);
            return;
        }

        var settings = options.Value;
        var id = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
        var transport = new LongPollTransport(settings.OutboxCapacity, chat.Time);
        var outbox = new ConnectionOutbox(transport, new PhoenixFrameEncoder(version), settings.OutboxCapacity, chat.Time);
        var link = new OutboxLink(outbox);
        var subscriptions = new PhoenixSubscriptions(link, PhoenixEventEncoder.For(version), settings.OutboxCapacity);
        var admission = admitted.Value!;
        ChatClient client;
        try
        {
            client = await admission.ConnectAsync(subscriptions, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            await admission.DisposeAsync().ConfigureAwait(false);
            logger.LogWarning(ex, "Long-poll session of {User} could not join its session", admission.User);
            await StatusAsync(context.Response, 500, null).ConfigureAwait(false);
            return;
        }

        var protocol = new PhoenixChannelProtocol(client, subscriptions, link, version, PhoenixEndpoint.FrameLimits(limitOptions.Value));
        var session = new LongPollSession(id, transport, outbox, protocol, chat.Time);
        sessions[id] = session;
        ChatMetrics.Connections.Add(1, LongPoll);
        _ = RunAsync(session, client, cancellationToken);
        await StatusAsync(context.Response, 410, id).ConfigureAwait(false);
    }

    // The session lives until the client stops polling (two windows without a poll), the server closes it, or shutdown.
    private async Task RunAsync(LongPollSession session, ChatClient client, CancellationToken cancellationToken)
    {
        try
        {
            await session.Outbox.RunAsync(() => session.UntilAbandonedAsync(PollWindow * 2, cancellationToken)).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            logger.LogError(ex, "Long-poll session of {User} failed", client.User);
        }
        finally
        {
            sessions.TryRemove(session.Id, out _);
            ChatMetrics.Connections.Add(-1, LongPoll);
            session.Transport.Abort();
            await client.DisposeAsync().ConfigureAwait(false);
        }
    }

    private async Task PollAsync(HttpListenerContext context, LongPollSession session, CancellationToken cancellationToken)
    {
        session.Touch();
        var taken = await session.Transport.TakeAsync(PollWindow, cancellationToken).ConfigureAwait(false);
        session.Touch();
        if (taken is null)
        {
            await StatusAsync(context.Response, 410, null).ConfigureAwait(false);
            return;
        }

        if (taken.Count == 0)
        {
            await StatusAsync(context.Response, 204, session.Id).ConfigureAwait(false);
            return;
        }

        await HttpReply.JsonAsync(context.Response, 200, w =>
        {
            w.WriteStartObject();
            w.WriteNumber("status", 200);
            w.WriteString("token", session.Id);
            w.WriteStartArray("messages");
            foreach (var frame in taken)
            {
                w.WriteStringValue(frame);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        }).ConfigureAwait(false);
    }

    private async Task PublishAsync(HttpListenerContext context, LongPollSession session, CancellationToken cancellationToken)
    {
        session.Touch();
        var body = await RequestBody.ReadAsync(context.Request, options.Value.MaxMessageBytes, cancellationToken).ConfigureAwait(false);
        if (body is null)
        {
            await HttpReply.ErrorAsync(context.Response, 413, "body_too_large", $"a long-poll batch has at most {options.Value.MaxMessageBytes} bytes").ConfigureAwait(false);
            return;
        }

        await session.PublishAsync(body, cancellationToken).ConfigureAwait(false);
        await StatusAsync(context.Response, 200, session.Id).ConfigureAwait(false);
    }

    private static Task StatusAsync(HttpListenerResponse response, int status, string? token, int httpStatus = 200) =>
        HttpReply.JsonAsync(response, httpStatus, w =>
        {
            w.WriteStartObject();
            w.WriteNumber("status", status);
            if (token is not null)
            {
                w.WriteString("token", token);
            }

            w.WriteEndObject();
        });

    private sealed class OutboxLink(ConnectionOutbox outbox) : IPhoenixLink
    {
        public bool TryDeliver(ChatEvent chatEvent) => outbox.TryDeliver(chatEvent);

        public bool TryDeliver(Reply reply) => outbox.TryDeliver(reply);

        public void Close(int code, string reason) => outbox.Close(code, reason, drain: false);

        public void Disconnect(string reason) => outbox.Disconnect(reason);

        public int Capacity => outbox.Capacity;

        public Task WhenQueuedAtMostAsync(int items, CancellationToken cancellationToken) => outbox.WhenQueuedAtMostAsync(items, cancellationToken);
    }

    private sealed class LongPollSession(string id, LongPollTransport transport, ConnectionOutbox outbox, PhoenixChannelProtocol protocol, TimeProvider time)
    {
        private readonly SemaphoreSlim receiving = new(1, 1);
        private long lastSeen = time.GetTimestamp();

        public string Id { get; } = id;

        public LongPollTransport Transport { get; } = transport;

        public ConnectionOutbox Outbox { get; } = outbox;

        public void Touch() => Volatile.Write(ref lastSeen, time.GetTimestamp());

        // Pushes of one session are handled one at a time, in order, like frames of a WebSocket.
        public async Task PublishAsync(byte[] body, CancellationToken cancellationToken)
        {
            await receiving.WaitAsync(cancellationToken).ConfigureAwait(false);
            try
            {
                var rest = body.AsMemory();
                while (rest.Length > 0 && !Outbox.IsClosing)
                {
                    var newline = rest.Span.IndexOf((byte)'\n');
                    var line = newline < 0 ? rest : rest[..newline];
                    rest = newline < 0 ? default : rest[(newline + 1)..];
                    if (line.Length > 0)
                    {
                        // Not UTF-8 is answered malformed_message here; a WebSocket closes with 1007 before this point.
                        await protocol.OnTextAsync(line, cancellationToken).ConfigureAwait(false);
                    }
                }
            }
            finally
            {
                receiving.Release();
            }
        }

        public async Task UntilAbandonedAsync(TimeSpan abandonAfter, CancellationToken cancellationToken)
        {
            var period = TimeSpan.FromMilliseconds(Math.Clamp(abandonAfter.TotalMilliseconds / 4, 50, 1000));
            using var timer = new PeriodicTimer(period, time);
            try
            {
                while (!Transport.IsClosed && time.GetElapsedTime(Volatile.Read(ref lastSeen)) < abandonAfter)
                {
                    await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false);
                }
            }
            catch (OperationCanceledException)
            {
                // Shutdown.
            }
        }
    }
}
