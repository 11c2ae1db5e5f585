using System.Globalization;
using System.Net;
using System.Text.Json;
using TinyChat.Chat;
using TinyChat.Protocols.Json;
using TinyChat.Web;

namespace TinyChat.Protocols.Http;

/// <summary>
/// A finished HTTP API answer: status, JSON body and the headers that go with it. A value, so an idempotent POST can
/// keep it and answer a retry with exactly the same bytes.
/// </summary>
public sealed record ApiResponse(int Status, byte[] Body, string? Location = null, int? RetryAfterSeconds = null)
{
    /// <summary>A kept answer given again to a retried idempotent POST (marked <c>Idempotent-Replayed: true</c>).</summary>
    public bool Replayed { get; init; }

    /// <summary>Whether a retry might succeed where this failed (a retried idempotent POST runs again).</summary>
    public bool IsTransient => Status is 429 or >= 500;

    /// <summary>A JSON answer written by <paramref name="write"/>.</summary>
    public static ApiResponse Json(int status, Action<Utf8JsonWriter> write, string? location = null) =>
        new(status, JsonEventEncoder.Build(write), location);

    /// <summary>An error in the server's one shape, <c>{"error","code"}</c>.</summary>
    public static ApiResponse Error(int status, string code, string message, int? retryAfterSeconds = null) =>
        new(status, JsonEventEncoder.Build(w =>
        {
            w.WriteStartObject();
            w.WriteString("error", message);
            w.WriteString("code", code);
            w.WriteEndObject();
        }), RetryAfterSeconds: retryAfterSeconds);

    /// <summary>The HTTP form of a core refusal.</summary>
    public static ApiResponse From(ChatError error) => error.Code switch
    {
        "missing_token" or "invalid_token" => Error(401, error.Code, error.Message),
        "too_many_connections" or "rate_limited" => Error(429, error.Code, error.Message, retryAfterSeconds: 1),
        "too_many_failed_sign_ins" => Error(429, error.Code, error.Message, retryAfterSeconds: 60),
        "unavailable" => Error(503, error.Code, error.Message, retryAfterSeconds: 1),
        "room_not_found" or "user_not_found" => Error(404, error.Code, error.Message),
        "message_not_found" => Error(404, error.Code, error.Message),
        "not_a_member" or "room_quota" or "forbidden" or "not_invited" or "banned" or "muted" => Error(403, error.Code, error.Message),
        "room_exists" or "already_joined" or "invalid_target" => Error(409, error.Code, error.Message),
        "invalid_room_name" or "invalid_username" or "message_too_long" or "empty_message" or "topic_too_long" => Error(422, error.Code, error.Message),
        _ => Error(400, error.Code, error.Message),
    };

    /// <summary>Writes the answer and ends the response.</summary>
    public async Task WriteAsync(HttpListenerResponse response)
    {
        response.StatusCode = Status;
        response.ContentType = "application/json; charset=utf-8";
        response.Headers["Cache-Control"] = "no-store";
        response.Headers["X-Content-Type-Options"] = "nosniff";
        if (Location is not null)
        {
            response.Headers["Location"] = Location;
        }

        if (RetryAfterSeconds is { } seconds)
        {
            response.Headers["Retry-After"] = seconds.ToString(CultureInfo.InvariantCulture);
        }

        if (Status == 401)
        {
            response.Headers["WWW-Authenticate"] = "Bearer";
        }

        if (Replayed)
        {
            response.Headers["Idempotent-Replayed"] = "true";
        }

        // An error answer to a request with a body ends the connection after a lingering close (HttpReply).
        await HttpReply.SendAsync(response, Body).ConfigureAwait(false);
    }
}
