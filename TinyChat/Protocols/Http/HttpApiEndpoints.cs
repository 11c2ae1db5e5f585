using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Protocols.Json;
using TinyChat.Web;

namespace TinyChat.Protocols.Http;

/// <summary>
/// The REST part of the HTTP API (see docs/http-api.md): <c>/api/me</c>, <c>/api/rooms</c>, <c>/api/rooms/{room}/…</c>
/// and <c>/api/users/{user}/messages</c>. Each request acts through <see cref="ApiCallers"/>; the answers use the
/// native protocol's JSON for messages and presence.
/// </summary>
public sealed class HttpApiEndpoints(ChatServer chat, ApiCallers callers, IdempotencyKeys idempotency, EventStreamEndpoint streams, IOptions<ServerOptions> server)
{
    private const string RoomsPrefix = "/api/rooms/";
    private const string UsersPrefix = "/api/users/";
    private const int DefaultHistoryLimit = 50;

    /// <summary><c>GET /api/me</c>.</summary>
    public Task HandleMeAsync(HttpListenerContext context, CancellationToken cancellationToken) =>
        AnswerAsync(context, "GET", cancellationToken, async client =>
        {
            var rooms = await client.RoomsAsync(cancellationToken).ConfigureAwait(false);
            return rooms.Error is { } error ? ApiResponse.From(error) : ApiResponse.Json(200, w =>
            {
                w.WriteStartObject();
                w.WriteString("username", client.User);
                w.WriteString("node", chat.Presence.Node);
                WriteStrings(w, "joined", rooms.Value!.Joined);
                w.WriteEndObject();
            });
        });

    /// <summary><c>GET /api/rooms</c> (all rooms and the joined ones), <c>POST /api/rooms</c> (create).</summary>
    public Task HandleRoomsAsync(HttpListenerContext context, CancellationToken cancellationToken)
    {
        if (context.Request.HttpMethod == "POST")
        {
            return AnswerAsync(context, "POST", cancellationToken, async client =>
            {
                var (fields, refusal) = await ApiBody.ReadFieldsAsync(context.Request, server.Value.MaxRequestBodyBytes, cancellationToken).ConfigureAwait(false);
                if (refusal is not null)
                {
                    return refusal;
                }

                if (!fields!.TryGetValue("room", out var room))
                {
                    return ApiResponse.Error(422, "invalid_field", "expected a string field \"room\"");
                }

                var isPrivate = fields.GetValueOrDefault("private");
                if (isPrivate is not (null or "true" or "false"))
                {
                    return ApiResponse.Error(422, "invalid_field", "\"private\" is true or false");
                }

                var error = await client.CreateAsync(room, isPrivate == "true", cancellationToken).ConfigureAwait(false);
                return error is not null
                    ? ApiResponse.From(error)
                    : ApiResponse.Json(201, w => WriteRoom(w, room!, joined: false), RoomPath(room!));
            }, readsBody: true);
        }

        return AnswerAsync(context, "GET", cancellationToken, async client =>
        {
            var rooms = await client.RoomsAsync(cancellationToken).ConfigureAwait(false);
            return rooms.Error is { } error ? ApiResponse.From(error) : ApiResponse.Json(200, w =>
            {
                w.WriteStartObject();
                WriteStrings(w, "rooms", rooms.Value!.All);
                WriteStrings(w, "joined", rooms.Value.Joined);
                w.WriteEndObject();
            });
        }, allow: "GET, POST");
    }

    /// <summary>Everything under <c>/api/rooms/{room}</c>.</summary>
    public Task HandleRoomAsync(HttpListenerContext context, CancellationToken cancellationToken)
    {
        return Segments(context.Request, RoomsPrefix) switch
        {
            [var room] => context.Request.HttpMethod == "DELETE"
                ? AnswerAsync(context, "DELETE", cancellationToken, client => DeleteRoomAsync(client, room, cancellationToken))
                : AnswerAsync(context, "GET", cancellationToken, client => RoomAsync(client, room, cancellationToken), allow: "GET, DELETE"),
            [var room, "topic"] => AnswerAsync(context, "PUT", cancellationToken, client => SetTopicAsync(context.Request, client, room, cancellationToken), readsBody: true),
            [var room, ("invite" or "kick" or "ban" or "unban" or "mute" or "unmute" or "role") and var action] =>
                AnswerAsync(context, "POST", cancellationToken, client => ActOnUserAsync(context.Request, client, room, action, cancellationToken), readsBody: true),
            [var room, "messages", var id] => context.Request.HttpMethod == "DELETE"
                ? AnswerAsync(context, "DELETE", cancellationToken, client => DeleteMessageAsync(client, room, id, cancellationToken))
                : AnswerAsync(context, "PATCH", cancellationToken, client => EditMessageAsync(context.Request, client, room, id, cancellationToken), readsBody: true, allow: "PATCH, DELETE"),
            [var room, "membership"] => context.Request.HttpMethod switch
            {
                "PUT" => AnswerAsync(context, "PUT", cancellationToken, client => JoinAsync(client, room, cancellationToken)),
                _ => AnswerAsync(context, "DELETE", cancellationToken, client => LeaveAsync(client, room, cancellationToken), allow: "PUT, DELETE"),
            },
            [var room, "messages"] => context.Request.HttpMethod == "POST"
                ? AnswerAsync(context, "POST", cancellationToken, client => PostToRoomAsync(context.Request, client, room, cancellationToken), readsBody: true)
                : AnswerAsync(context, "GET", cancellationToken, client => RoomHistoryAsync(context.Request, client, room, cancellationToken), allow: "GET, POST"),
            [var room, "presence"] => AnswerAsync(context, "GET", cancellationToken, client => PresenceAsync(context.Request, client, room, cancellationToken)),
            [var room, "events"] => streams.HandleRoomAsync(context, room, cancellationToken),
            _ => NotFoundAsync(context),
        };
    }

    /// <summary>Everything under <c>/api/users/{user}</c>: private messages.</summary>
    public Task HandleUserAsync(HttpListenerContext context, CancellationToken cancellationToken) =>
        Segments(context.Request, UsersPrefix) switch
        {
            [var user, "messages"] => context.Request.HttpMethod == "POST"
                ? AnswerAsync(context, "POST", cancellationToken, client => PostPrivateAsync(context.Request, client, user, cancellationToken), readsBody: true)
                : AnswerAsync(context, "GET", cancellationToken, client => PrivateHistoryAsync(context.Request, client, user, cancellationToken), allow: "GET, POST"),
            _ => NotFoundAsync(context),
        };

    private static async Task<ApiResponse> RoomAsync(ChatClient client, string room, CancellationToken cancellationToken)
    {
        var rooms = await client.RoomsAsync(cancellationToken).ConfigureAwait(false);
        if (rooms.Error is { } error)
        {
            return ApiResponse.From(error);
        }

        if (!rooms.Value!.All.Contains(room))
        {
            return ApiResponse.From(ChatError.RoomNotFound(room));
        }

        var joined = rooms.Value.Joined.Contains(room);
        var details = joined || client.IsAdmin ? (await client.DescribeAsync(room, cancellationToken).ConfigureAwait(false)).Value : null;
        return ApiResponse.Json(200, w =>
        {
            w.WriteStartObject();
            w.WriteString("room", room);
            w.WriteBoolean("joined", joined);
            if (details is not null)
            {
                JsonEventEncoder.WriteRoomDetails(w, details, full: true);
            }

            w.WriteEndObject();
        });
    }

    private static async Task<ApiResponse> DeleteRoomAsync(ChatClient client, string room, CancellationToken cancellationToken)
    {
        var error = await client.DeleteRoomAsync(room, cancellationToken).ConfigureAwait(false);
        return error is null ? new ApiResponse(204, []) : ApiResponse.From(error);
    }

    private async Task<ApiResponse> SetTopicAsync(HttpListenerRequest request, ChatClient client, string room, CancellationToken cancellationToken)
    {
        var (topic, refusal) = await ApiBody.ReadFieldAsync(request, "topic", server.Value.MaxRequestBodyBytes, cancellationToken).ConfigureAwait(false);
        return refusal ?? Done(room, await client.SetTopicAsync(room, topic!, cancellationToken).ConfigureAwait(false));
    }

    private async Task<ApiResponse> ActOnUserAsync(HttpListenerRequest request, ChatClient client, string room, string action, CancellationToken cancellationToken)
    {
        var (fields, refusal) = await ApiBody.ReadFieldsAsync(request, server.Value.MaxRequestBodyBytes, cancellationToken).ConfigureAwait(false);
        if (refusal is not null)
        {
            return refusal;
        }

        if (!fields!.TryGetValue("user", out var user))
        {
            return ApiResponse.Error(422, "invalid_field", "expected a string field \"user\"");
        }

        var seconds = fields.TryGetValue("seconds", out var secondsText) ? Number(secondsText) : 600;
        if (seconds is not > 0 || (secondsText is not null && action != "mute"))
        {
            return ApiResponse.Error(422, "invalid_field", "\"seconds\" is a whole number of seconds, 1 or more (mute only)");
        }

        var role = fields.GetValueOrDefault("role");
        if (action == "role" ? role is not ("moderator" or "member") : role is not null)
        {
            return ApiResponse.Error(422, "invalid_field", "\"role\" is \"moderator\" or \"member\" (role only)");
        }

        var acted = action switch
        {
            "invite" => await client.InviteAsync(room, user, cancellationToken).ConfigureAwait(false),
            "kick" => await client.KickAsync(room, user, cancellationToken).ConfigureAwait(false),
            "ban" => await client.BanAsync(room, user, cancellationToken).ConfigureAwait(false),
            "unban" => await client.UnbanAsync(room, user, cancellationToken).ConfigureAwait(false),
            "mute" => await client.MuteAsync(room, user, TimeSpan.FromSeconds(Math.Min(seconds.Value, (long)ChatClient.MaxMute.TotalSeconds + 1)), cancellationToken).ConfigureAwait(false),
            "unmute" => await client.UnmuteAsync(room, user, cancellationToken).ConfigureAwait(false),
            _ => await client.SetRoleAsync(room, user, role == "moderator" ? RoomRole.Moderator : RoomRole.Member, cancellationToken).ConfigureAwait(false),
        };
        return Done(room, acted);
    }

    private async Task<ApiResponse> EditMessageAsync(HttpListenerRequest request, ChatClient client, string room, string id, CancellationToken cancellationToken)
    {
        if (Number(id) is not (>= 0 and var messageId))
        {
            return ApiResponse.Error(404, "message_not_found", $"{room} has no message {id}");
        }

        var (text, refusal) = await ApiBody.ReadFieldAsync(request, "message", server.Value.MaxRequestBodyBytes, cancellationToken).ConfigureAwait(false);
        return refusal ?? Done(room, await client.EditAsync(room, messageId, text!, cancellationToken).ConfigureAwait(false));
    }

    private static async Task<ApiResponse> DeleteMessageAsync(ChatClient client, string room, string id, CancellationToken cancellationToken) =>
        Number(id) is not (>= 0 and var messageId)
            ? ApiResponse.Error(404, "message_not_found", $"{room} has no message {id}")
            : Done(room, await client.DeleteAsync(room, messageId, cancellationToken).ConfigureAwait(false));

    // A room action's answer: the id of the event it stored, in the room's order (as the native protocol's reply).
    private static ApiResponse Done(string room, Outcome<long> acted) =>
        acted.Error is { } error ? ApiResponse.From(error) : ApiResponse.Json(200, w =>
        {
            w.WriteStartObject();
            w.WriteBoolean("ok", true);
            w.WriteString("room", room);
            w.WriteNumber("id", acted.Value);
            w.WriteEndObject();
        });

    private static async Task<ApiResponse> JoinAsync(ChatClient client, string room, CancellationToken cancellationToken)
    {
        var joined = await client.JoinAsync(room, cancellationToken).ConfigureAwait(false);
        return joined.Error switch
        {
            null => ApiResponse.Json(201, w => WriteRoom(w, room, joined: true), RoomPath(room) + "/membership"),

            // PUT is idempotent: joining a room one is in already is a success that changed nothing.
            { Code: "already_joined" } => ApiResponse.Json(200, w => WriteRoom(w, room, joined: true)),
            var error => ApiResponse.From(error),
        };
    }

    private static async Task<ApiResponse> LeaveAsync(ChatClient client, string room, CancellationToken cancellationToken)
    {
        var error = await client.LeaveAsync(room, cancellationToken).ConfigureAwait(false);
        return error switch
        {
            null => new ApiResponse(204, []),

            // There is no membership to delete.
            { Code: "not_a_member" } => ApiResponse.Error(404, error.Code, error.Message),
            _ => ApiResponse.From(error),
        };
    }

    // Everyone in a room small enough to list; otherwise (or with ?after=NAME or ?limit=N) one page of names.
    private static async Task<ApiResponse> PresenceAsync(HttpListenerRequest request, ChatClient client, string room, CancellationToken cancellationToken)
    {
        var after = request.QueryString["after"];
        var limit = Number(request.QueryString["limit"]);
        if (limit is -1 or 0)
        {
            return ApiResponse.Error(422, "invalid_query", "limit is 1 or more");
        }

        var who = after is null && limit is null
            ? await client.WhoAsync(room, cancellationToken).ConfigureAwait(false)
            : await client.WhoAsync(room, after, (int)Math.Min(limit ?? RoomProcess.MaxWhoPage, RoomProcess.MaxWhoPage), cancellationToken).ConfigureAwait(false);
        return who.Error is { } error ? ApiResponse.From(error) : ApiResponse.Json(200, w => JsonEventEncoder.WritePresenceState(w, who.Value!));
    }

    private async Task<ApiResponse> PostToRoomAsync(HttpListenerRequest request, ChatClient client, string room, CancellationToken cancellationToken) =>
        await PostOnceAsync(request, client, cancellationToken, async text =>
        {
            var sent = await client.SendToRoomAsync(room, text, cancellationToken).ConfigureAwait(false);
            return sent.Error is { } error ? ApiResponse.From(error) : ApiResponse.Json(
                201,
                w =>
                {
                    w.WriteStartObject();
                    w.WriteString("room", room);
                    w.WriteString("from", client.User);
                    w.WriteNumber("id", sent.Value);
                    w.WriteEndObject();
                },
                $"{RoomPath(room)}/messages?after={sent.Value - 1}&limit=1");
        }).ConfigureAwait(false);

    private async Task<ApiResponse> PostPrivateAsync(HttpListenerRequest request, ChatClient client, string user, CancellationToken cancellationToken) =>
        await PostOnceAsync(request, client, cancellationToken, async text =>
        {
            var sent = await client.SendPrivateAsync(user, text, cancellationToken).ConfigureAwait(false);
            return sent.Error is { } error ? ApiResponse.From(error) : ApiResponse.Json(
                201,
                w =>
                {
                    w.WriteStartObject();
                    w.WriteString("to", user);
                    w.WriteString("from", client.User);
                    w.WriteNumber("id", sent.Value);
                    w.WriteEndObject();
                },
                $"{UsersPrefix}{Uri.EscapeDataString(user)}/messages?after={sent.Value - 1}&limit=1");
        }).ConfigureAwait(false);

    // Reads the message, then posts it at most once per Idempotency-Key.
    private async Task<ApiResponse> PostOnceAsync(HttpListenerRequest request, ChatClient client, CancellationToken cancellationToken, Func<string, Task<ApiResponse>> post)
    {
        var key = request.Headers["Idempotency-Key"];
        if (key is not null && !IdempotencyKeys.IsValidKey(key))
        {
            return ApiResponse.Error(422, "invalid_idempotency_key", $"an Idempotency-Key is 1 to {IdempotencyKeys.MaxKeyLength} visible ASCII characters");
        }

        var (text, refusal) = await ApiBody.ReadFieldAsync(request, "message", server.Value.MaxRequestBodyBytes, cancellationToken).ConfigureAwait(false);
        if (refusal is not null)
        {
            return refusal;
        }

        if (key is null)
        {
            return await post(text!).ConfigureAwait(false);
        }

        var (response, replayed) = await idempotency.RunOnceAsync(client.User, key, $"{request.Url?.AbsolutePath}\n{text}", () => post(text!)).ConfigureAwait(false);
        return replayed ? response with { Replayed = true } : response;
    }

    private static async Task<ApiResponse> RoomHistoryAsync(HttpListenerRequest request, ChatClient client, string room, CancellationToken cancellationToken)
    {
        if (HistoryQueryOf(request, out var query) is { } refusal)
        {
            return refusal;
        }

        var page = await client.RoomHistoryAsync(room, query, cancellationToken).ConfigureAwait(false);
        return page.Error is { } error ? ApiResponse.From(error) : ApiResponse.Json(200, w =>
        {
            w.WriteStartObject();
            w.WriteString("room", room);
            w.WriteStartArray("messages");
            foreach (var message in page.Value!)
            {
                JsonEventEncoder.WriteRoomMessage(w, message);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    private static async Task<ApiResponse> PrivateHistoryAsync(HttpListenerRequest request, ChatClient client, string user, CancellationToken cancellationToken)
    {
        if (HistoryQueryOf(request, out var query) is { } refusal)
        {
            return refusal;
        }

        var page = await client.PrivateHistoryAsync(user, query, cancellationToken).ConfigureAwait(false);
        return page.Error is { } error ? ApiResponse.From(error) : ApiResponse.Json(200, w =>
        {
            w.WriteStartObject();
            w.WriteString("with", user);
            w.WriteStartArray("messages");
            foreach (var message in page.Value!)
            {
                JsonEventEncoder.WritePrivateMessage(w, message);
            }

            w.WriteEndArray();
            w.WriteEndObject();
        });
    }

    private static ApiResponse? HistoryQueryOf(HttpListenerRequest request, out HistoryQuery query)
    {
        query = new HistoryQuery(null, null, DefaultHistoryLimit);
        var before = Number(request.QueryString["before"]);
        var after = Number(request.QueryString["after"]);
        var limit = Number(request.QueryString["limit"]);
        if (before is -1 || after is -1 || limit is -1 or 0)
        {
            return ApiResponse.Error(422, "invalid_query", "before and after are message ids (0 or more); limit is 1 or more");
        }

        if (before is not null && after is not null)
        {
            return ApiResponse.Error(422, "invalid_query", "give before or after, not both");
        }

        query = new HistoryQuery(before, after, (int)Math.Min(limit ?? DefaultHistoryLimit, ChatClient.MaxHistoryLimit));
        return null;
    }

    // Null when absent, -1 when not a non-negative integer.
    private static long? Number(string? text) =>
        text is null ? null : long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) ? value : -1;

    private async Task AnswerAsync(HttpListenerContext context, string method, CancellationToken cancellationToken, Func<ChatClient, Task<ApiResponse>> act, bool readsBody = false, string? allow = null)
    {
        if (context.Request.HttpMethod != method)
        {
            // The body of a refused request is never read: end the connection with the answer.
            context.Response.KeepAlive = !context.Request.HasEntityBody;
            await HttpReply.MethodNotAllowedAsync(context.Response, allow ?? method).ConfigureAwait(false);
            return;
        }

        var response = await callers.ActAsync(context.Request, act, cancellationToken).ConfigureAwait(false);
        if (readsBody && response.Status is 401 or 429 or 503 && context.Request.HasEntityBody)
        {
            context.Response.KeepAlive = false;
        }

        await response.WriteAsync(context.Response).ConfigureAwait(false);
    }

    private static Task NotFoundAsync(HttpListenerContext context)
    {
        context.Response.KeepAlive = !context.Request.HasEntityBody;
        return HttpReply.ErrorAsync(context.Response, 404, "not_found", "no such resource; see docs/http-api.md");
    }

    // The path's segments below the prefix, unescaped; a trailing slash counts as no extra segment.
    private static string[] Segments(HttpListenerRequest request, string prefix)
    {
        var path = request.Url?.AbsolutePath ?? "";
        var rest = path.Length > prefix.Length ? path[prefix.Length..].TrimEnd('/') : "";
        return rest.Length == 0 ? [] : [.. rest.Split('/').Select(Uri.UnescapeDataString)];
    }

    private static string RoomPath(string room) => RoomsPrefix + Uri.EscapeDataString(room);

    private static void WriteRoom(Utf8JsonWriter w, string room, bool joined)
    {
        w.WriteStartObject();
        w.WriteString("room", room);
        w.WriteBoolean("joined", joined);
        w.WriteEndObject();
    }

    private static void WriteStrings(Utf8JsonWriter w, string name, IReadOnlyList<string> values)
    {
        w.WriteStartArray(name);
        foreach (var value in values)
        {
            w.WriteStringValue(value);
        }

        w.WriteEndArray();
    }
}
