using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;

namespace TinyChat.Web;

/// <summary>
/// <c>POST /api/users</c>: registers a user name (with an invite code when <c>Chat:Registration</c> is <c>invite</c>)
/// and answers its access token. <c>GET /api/registration</c>: who may register, for the sign-in screen.
/// </summary>
public sealed class RegistrationEndpoint(ChatServer chat, IOptions<ServerOptions> options, ClientAddressLimits addressLimits, ClientAddresses addresses, ILogger<RegistrationEndpoint> logger)
{
    /// <summary>The mode as the wire names it: <c>open</c>, <c>invite</c> or <c>closed</c>.</summary>
    public string Mode => chat.Limits.Registration.ToString().ToLowerInvariant();

    /// <summary><c>GET /api/registration</c>: <c>{"mode":"open"|"invite"|"closed"}</c>, no token needed.</summary>
    public async Task HandleModeAsync(HttpListenerContext context, CancellationToken cancellationToken)
    {
        if (context.Request.HttpMethod != "GET")
        {
            await HttpReply.MethodNotAllowedAsync(context.Response, "GET").ConfigureAwait(false);
            return;
        }

        await HttpReply.JsonAsync(context.Response, 200, w =>
        {
            w.WriteStartObject();
            w.WriteString("mode", Mode);
            w.WriteEndObject();
        }).ConfigureAwait(false);
    }

    /// <summary>Handles one request.</summary>
    public async Task HandleAsync(HttpListenerContext context, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var response = context.Response;
        if (request.HttpMethod != "POST")
        {
            await HttpReply.MethodNotAllowedAsync(response, "POST").ConfigureAwait(false);
            return;
        }

        if (!addressLimits.TryRegister(addresses.Of(request)))
        {
            await HttpReply.ErrorAsync(response, 429, "rate_limited", "too many registrations from your address; try again later").ConfigureAwait(false);
            return;
        }

        var body = await RequestBody.ReadAsync(request, options.Value.MaxRequestBodyBytes, cancellationToken).ConfigureAwait(false);
        if (body is null)
        {
            await HttpReply.ErrorAsync(response, 413, "body_too_large", $"request body exceeds {options.Value.MaxRequestBodyBytes} bytes").ConfigureAwait(false);
            return;
        }

        string? username;
        string? invite = null;
        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("username", out var name)
                || name.ValueKind != JsonValueKind.String)
            {
                await HttpReply.ErrorAsync(response, 400, "bad_request", "expected a JSON object with a string field \"username\"").ConfigureAwait(false);
                return;
            }

            if (document.RootElement.TryGetProperty("invite", out var code) && code.ValueKind is not (JsonValueKind.String or JsonValueKind.Null))
            {
                await HttpReply.ErrorAsync(response, 400, "bad_request", "\"invite\" must be a string (the invite code)").ConfigureAwait(false);
                return;
            }

            username = name.GetString();
            invite = code.ValueKind == JsonValueKind.String ? code.GetString()?.Trim() : null;
        }
        catch (JsonException)
        {
            await HttpReply.ErrorAsync(response, 400, "invalid_json", "request body is not valid JSON").ConfigureAwait(false);
            return;
        }

        var outcome = await chat.RegisterAsync(username, invite, cancellationToken).ConfigureAwait(false);
        if (outcome.Error is { } error)
        {
            var status = error.Code switch
            {
                "username_taken" => 409,
                "registration_closed" or "invite_required" or "invalid_invite" => 403,
                _ => 400,
            };
            await HttpReply.ErrorAsync(response, status, error.Code, error.Message).ConfigureAwait(false);
            return;
        }

        logger.LogInformation("Registered user {User} ({Registration})", username, Mode);
        await HttpReply.JsonAsync(response, 201, w =>
        {
            w.WriteStartObject();
            w.WriteString("username", username);
            w.WriteString("access_token", outcome.Value);
            w.WriteEndObject();
        }).ConfigureAwait(false);
    }
}

/// <summary>Reads request bodies with a hard size limit.</summary>
public static class RequestBody
{
    /// <summary>The body, or null when it is larger than <paramref name="limit"/> (nothing beyond limit+1 bytes is read).</summary>
    public static async Task<byte[]?> ReadAsync(HttpListenerRequest request, int limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength64 > limit)
        {
            return null;
        }

        var buffer = new byte[limit + 1];
        var length = 0;
        while (length < buffer.Length)
        {
            var read = await request.InputStream.ReadAsync(buffer.AsMemory(length), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                break;
            }

            length += read;
        }

        return length > limit ? null : buffer[..length];
    }
}
