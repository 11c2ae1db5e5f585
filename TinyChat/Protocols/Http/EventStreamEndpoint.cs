using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Protocols.Http;

/// <summary>
/// <c>GET /api/rooms/{room}/events</c> (one joined room) and <c>GET /api/events</c> (everything the user receives):
/// Server-Sent Event streams. A stream is one more connection of its user: admitted like a WebSocket (origin,
/// per-address rate, token, connection slot), counted in presence, fed through the shared bounded outbox.
/// </summary>
/// <remarks>
/// Resume with <c>Last-Event-ID</c>: the stream subscribes first (live events are held by its
/// <see cref="StreamGate"/>), then reads the history after the id, then lets live events through, skipping those
/// the history already sent. A replay is at most half the outbox; when more is missing the stream ends after it
/// and the client's reconnect (with the newest id) continues.
/// </remarks>
public sealed class EventStreamEndpoint(
    ChatServer chat,
    ConnectionGate gate,
    OpenEventStreams open,
    IOptions<SseOptions> options,
    ILogger<EventStreamEndpoint> logger)
{
    /// <summary><c>GET /api/events</c>.</summary>
    public Task HandleAllAsync(HttpListenerContext context, CancellationToken cancellationToken) =>
        HandleAsync(context, room: null, cancellationToken);

    /// <summary><c>GET /api/rooms/{room}/events</c>.</summary>
    public Task HandleRoomAsync(HttpListenerContext context, string room, CancellationToken cancellationToken) =>
        HandleAsync(context, room, cancellationToken);

    private async Task HandleAsync(HttpListenerContext context, string? room, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var response = context.Response;
        if (request.HttpMethod != "GET")
        {
            response.KeepAlive = !request.HasEntityBody;
            await HttpReply.MethodNotAllowedAsync(response, "GET").ConfigureAwait(false);
            return;
        }

        // A room stream's ids are room sequence numbers; the user stream's are stream positions.
        var lastEventId = request.Headers["Last-Event-ID"];
        long roomResume = 0;
        StreamPosition userResume = default;
        if (lastEventId is not null && !(room is null
            ? StreamPosition.TryParse(lastEventId, out userResume)
            : long.TryParse(lastEventId, NumberStyles.None, CultureInfo.InvariantCulture, out roomResume)))
        {
            await ApiResponse.Error(400, "invalid_last_event_id", "Last-Event-ID is not an id this stream sent").WriteAsync(response).ConfigureAwait(false);
            return;
        }

        if (gate.Check(request) is { } refusal)
        {
            await ApiResponse.Error(refusal.Status, refusal.Code, refusal.Message, refusal.Status == 429 ? 60 : null).WriteAsync(response).ConfigureAwait(false);
            return;
        }

        var admitted = await chat.AdmitAsync(Credentials.AccessToken(request), cancellationToken).ConfigureAwait(false);
        if (admitted.Error is { } error)
        {
            await ApiResponse.From(error).WriteAsync(response).ConfigureAwait(false);
            return;
        }

        await using var admission = admitted.Value!;
        var settings = options.Value;
        var stream = new EventStream(context, room is null ? SseEventEncoder.UserStream : SseEventEncoder.RoomStream, room, admission.User, settings.OutboxCapacity, chat.Time);
        var client = await admission.ConnectAsync(stream.Gate, cancellationToken).ConfigureAwait(false);
        using var scope = logger.BeginScope(new ConnectionScope(stream.Id, admission.User, "SSE", room));
        try
        {
            if (room is not null && await RefusedRoomAsync(client, room, cancellationToken).ConfigureAwait(false) is { } refused)
            {
                await refused.WriteAsync(response).ConfigureAwait(false);
                return;
            }

            if (!open.TryAdd(stream))
            {
                await ApiResponse.Error(503, "shutting_down", "the server is shutting down", 1).WriteAsync(response).ConfigureAwait(false);
                return;
            }

            response.StatusCode = 200;
            response.ContentType = "text/event-stream; charset=utf-8";
            response.SendChunked = true;
            response.Headers["Cache-Control"] = "no-store";
            response.Headers["X-Content-Type-Options"] = "nosniff";

            // Proxies that buffer (nginx) would hold the stream back.
            response.Headers["X-Accel-Buffering"] = "no";
            stream.TrySend(SseEventEncoder.Retry(settings.RetryMilliseconds));
            logger.LogDebug("Event stream opened (resuming: {Resuming})", lastEventId is not null);
            var running = stream.RunAsync(TimeSpan.FromSeconds(settings.KeepAliveSeconds));
            using (cancellationToken.Register(() => stream.Close("server shutting down", drain: true)))
            {
                var complete = lastEventId is null
                    || await (room is null
                        ? ReplayAllAsync(client, stream, userResume, settings.OutboxCapacity / 2, cancellationToken)
                        : ReplayRoomAsync(client, stream, room, roomResume, settings.OutboxCapacity / 2, cancellationToken)).ConfigureAwait(false);
                stream.Gate.GoLive();
                if (!complete)
                {
                    stream.Close("replay continues on reconnect", drain: true);
                }

                await running.ConfigureAwait(false);
            }

            if (stream.CloseReason is { } reason && reason.StartsWith("slow", StringComparison.Ordinal))
            {
                logger.LogWarning("Event stream {Stream} of {User} ended: {Reason}", stream.Id, stream.User, reason);
            }
        }
        finally
        {
            open.Remove(stream);
            await client.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task<ApiResponse?> RefusedRoomAsync(ChatClient client, string room, CancellationToken cancellationToken)
    {
        if (ChatNames.CheckRoomName(room) is not null)
        {
            return ApiResponse.From(ChatError.RoomNotFound(room));
        }

        var rooms = await client.RoomsAsync(cancellationToken).ConfigureAwait(false);
        return rooms.Error is { } error ? ApiResponse.From(error)
            : rooms.Value!.Joined.Contains(room) ? null
            : rooms.Value.All.Contains(room) ? ApiResponse.From(ChatError.NotAMember(room))
            : ApiResponse.From(ChatError.RoomNotFound(room));
    }

    // True when everything after the id was replayed; false when the cap cut it short.
    private static async Task<bool> ReplayRoomAsync(ChatClient client, EventStream stream, string room, long after, int cap, CancellationToken cancellationToken)
    {
        stream.Gate.SentUpTo(room, after);
        var sent = 0;
        while (sent < cap)
        {
            var page = await client.RoomHistoryAsync(room, new HistoryQuery(null, after, Math.Min(ChatClient.MaxHistoryLimit, cap - sent)), cancellationToken).ConfigureAwait(false);
            if (page.Value is not { Count: > 0 } messages)
            {
                return true;
            }

            foreach (var message in messages)
            {
                stream.Gate.Replay(message);
                after = message.Id;
            }

            sent += messages.Count;
        }

        return false;
    }

    // Every joined room's messages from the last event's millisecond on: its own room strictly after its id,
    // the others from that millisecond (a message of another room in the very same millisecond may come twice).
    private static async Task<bool> ReplayAllAsync(ChatClient client, EventStream stream, StreamPosition last, int cap, CancellationToken cancellationToken)
    {
        var rooms = await client.RoomsAsync(cancellationToken).ConfigureAwait(false);
        var missed = new List<RoomMessage>();
        var complete = true;
        foreach (var room in rooms.Value?.Joined ?? [])
        {
            complete &= await CollectSinceAsync(client, room, last, cap, missed, cancellationToken).ConfigureAwait(false);
        }

        if (last.Room == StreamPosition.Private)
        {
            stream.Gate.SentUpTo(StreamPosition.Private, last.Id);
        }
        else
        {
            stream.Gate.SentUpTo(last.Room, last.Id);
        }

        missed.Sort((a, b) => (a.Timestamp, a.Room, a.Id).CompareTo((b.Timestamp, b.Room, b.Id)));
        foreach (var message in missed.Take(cap))
        {
            stream.Gate.Replay(message);
        }

        return complete && missed.Count <= cap;
    }

    private static async Task<bool> CollectSinceAsync(ChatClient client, string room, StreamPosition last, int cap, List<RoomMessage> into, CancellationToken cancellationToken)
    {
        var since = DateTimeOffset.FromUnixTimeMilliseconds(last.UnixMs);
        long? before = null;
        for (var taken = 0; taken < cap;)
        {
            var page = await client.RoomHistoryAsync(room, new HistoryQuery(before, null, ChatClient.MaxHistoryLimit), cancellationToken).ConfigureAwait(false);
            if (page.Value is not { Count: > 0 } messages)
            {
                return true;
            }

            foreach (var message in messages)
            {
                var after = room == last.Room ? message.Id > last.Id : message.Timestamp >= since;
                if (after)
                {
                    into.Add(message);
                    taken++;
                }
            }

            if (messages[0].Timestamp < since || (room == last.Room && messages[0].Id <= last.Id) || messages.Count < ChatClient.MaxHistoryLimit)
            {
                return true;
            }

            before = messages[0].Id;
        }

        return false;
    }
}
