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
    SignIns signIns,
    ClientAddresses addresses,
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

        // A room stream's ids are room sequence numbers; the user stream's are stream cursors.
        var lastEventId = request.Headers["Last-Event-ID"];
        long roomResume = 0;
        StreamCursor? userResume = null;
        if (lastEventId is not null && !(room is null
            ? StreamCursor.TryParse(lastEventId, out userResume)
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

        var admitted = await signIns.AdmitAsync(addresses.Of(request), Credentials.AccessToken(request), cancellationToken).ConfigureAwait(false);
        if (admitted.Error is { } error)
        {
            await ApiResponse.From(error).WriteAsync(response).ConfigureAwait(false);
            return;
        }

        await using var admission = admitted.Value!;
        var settings = options.Value;
        var stream = new EventStream(context, room is null ? SseEventEncoder.UserStream : SseEventEncoder.RoomStream, room, admission.User, settings.OutboxCapacity, chat.Time);

        // A fresh user stream starts where its rooms stood before it was attached. Read after, a message committed
        // but not yet fanned out (the room takes its commits back from the bus) was counted as sent and then
        // dropped by the gate when it arrived: a message posted once the stream had answered 200 never came.
        var roomsBefore = room is null && userResume is null
            ? await chat.RoomPositionsAsync(admission.User, cancellationToken).ConfigureAwait(false)
            : null;
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
            SseTransport.Frame(response);
            response.Headers["Cache-Control"] = "no-store";
            response.Headers["X-Content-Type-Options"] = "nosniff";

            // Proxies that buffer (nginx) would hold the stream back.
            response.Headers["X-Accel-Buffering"] = "no";
            stream.TrySend(SseEventEncoder.Retry(settings.RetryMilliseconds));
            logger.LogDebug("Event stream opened (resuming: {Resuming})", lastEventId is not null);
            var running = stream.RunAsync(TimeSpan.FromSeconds(settings.KeepAliveSeconds));
            using (cancellationToken.Register(() => stream.Close("server shutting down", drain: true)))
            {
                var complete = room is null
                    ? await CatchUpAllAsync(client, stream, userResume, roomsBefore, settings.OutboxCapacity / 2, chat.Time.GetUtcNow(), cancellationToken).ConfigureAwait(false)
                    : lastEventId is null || await ReplayRoomAsync(client, stream, room, roomResume, settings.OutboxCapacity / 2, cancellationToken).ConfigureAwait(false);
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

    // The user stream's start. Fresh: the cursor is where each shown room stood before this connection was attached
    // (roomsBefore: everything later reaches it), and where the private messages stand after the attachment (taken in
    // the user's turn, so every one up to it was published, and delivered here if it was published since); each
    // lowered to just before the first live message held since, if that is earlier, the held messages being looked
    // at only after the position was read. Resumed: every room's messages after its entry (after the stream's first
    // start for a room without one), and the private messages after the cursor's, in time order, up to the cap; held
    // live events the replay sent are dropped. Either way the client ends up with each message exactly once.
    private static async Task<bool> CatchUpAllAsync(ChatClient client, EventStream stream, StreamCursor? resume, IReadOnlyDictionary<string, long>? roomsBefore, int cap, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var rooms = (await client.RoomsAsync(cancellationToken).ConfigureAwait(false)).Value?.Joined ?? [];
        if (resume is null)
        {
            var privatePosition = await client.PrivatePositionAsync(cancellationToken).ConfigureAwait(false);
            var privately = Before(stream.Gate.FirstHeldId(SseEventEncoder.PrivateMark), privatePosition);
            var fresh = new StreamCursor(now.ToUnixTimeMilliseconds(), privately);
            stream.Gate.SentUpTo(SseEventEncoder.PrivateMark, privately);
            foreach (var room in rooms)
            {
                // A room joined since roomsBefore was read has no position: all its live messages are shown.
                if (roomsBefore is not null && roomsBefore.TryGetValue(room, out var last))
                {
                    var position = Before(stream.Gate.FirstHeldId(room), last);
                    fresh.Delivered(room, position);
                    stream.Gate.SentUpTo(room, position);
                }
            }

            stream.Cursor = fresh;
            return true;
        }

        resume.KeepOnly(rooms);
        stream.Cursor = resume;
        var missed = new List<ChatEvent>();
        var complete = true;
        stream.Gate.SentUpTo(SseEventEncoder.PrivateMark, resume.Private);
        var privates = await client.PrivateMessagesAfterAsync(resume.Private, cap + 1, cancellationToken).ConfigureAwait(false);
        complete &= privates.Count <= cap;
        missed.AddRange(privates.Take(cap));
        foreach (var room in rooms)
        {
            if (resume.RoomPosition(room) is { } after)
            {
                stream.Gate.SentUpTo(room, after);
                complete &= await CollectAfterAsync(client, room, after, cap, missed, cancellationToken).ConfigureAwait(false);
            }
            else
            {
                complete &= await CollectSinceAsync(client, room, DateTimeOffset.FromUnixTimeMilliseconds(resume.StartedAtMs), cap, missed, cancellationToken).ConfigureAwait(false);
            }
        }

        // Each room's and the private messages' own order is kept (timestamps never go back within one of them), so
        // what the cap lets through is a prefix of each, and the cursor stays exact when the stream ends after it.
        missed.Sort((a, b) => OrderOf(a).CompareTo(OrderOf(b)));
        foreach (var message in missed.Take(cap))
        {
            stream.Gate.Replay(message);
        }

        return complete && missed.Count <= cap;
    }

    private static long Before(long? firstHeld, long last) => firstHeld is { } first ? Math.Min(first - 1, last) : last;

    // A total order that keeps ids ascending within each room and within the private messages.
    private static (DateTimeOffset, string, long) OrderOf(ChatEvent message) =>
        message is RoomMessage m ? (m.Timestamp, m.Room, m.Id) : (((PrivateMessage)message).Timestamp, SseEventEncoder.PrivateMark, ((PrivateMessage)message).Id);

    private static async Task<bool> CollectAfterAsync(ChatClient client, string room, long after, int cap, List<ChatEvent> into, CancellationToken cancellationToken)
    {
        for (var taken = 0; taken < cap;)
        {
            var page = await client.RoomHistoryAsync(room, new HistoryQuery(null, after, Math.Min(ChatClient.MaxHistoryLimit, cap - taken)), cancellationToken).ConfigureAwait(false);
            if (page.Value is not { Count: > 0 } messages)
            {
                return true;
            }

            into.AddRange(messages);
            taken += messages.Count;
            after = messages[^1].Id;
        }

        return false;
    }

    // A room joined since the stream first started: its messages from then on (newest pages first, until older).
    private static async Task<bool> CollectSinceAsync(ChatClient client, string room, DateTimeOffset since, int cap, List<ChatEvent> into, CancellationToken cancellationToken)
    {
        long? before = null;
        var found = new List<RoomMessage>();
        while (found.Count <= cap)
        {
            var page = await client.RoomHistoryAsync(room, new HistoryQuery(before, null, ChatClient.MaxHistoryLimit), cancellationToken).ConfigureAwait(false);
            if (page.Value is not { Count: > 0 } messages)
            {
                break;
            }

            found.AddRange(messages.Where(m => m.Timestamp >= since));
            if (messages[0].Timestamp < since || messages.Count < ChatClient.MaxHistoryLimit)
            {
                break;
            }

            before = messages[0].Id;
        }

        // Oldest first, and only the oldest cap of them: the rest follow on the next reconnect.
        found.Sort((a, b) => a.Id.CompareTo(b.Id));
        into.AddRange(found.Take(cap));
        return found.Count <= cap;
    }
}
