using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;

namespace TinyChat.Web;

/// <summary><c>POST /api/users</c>: registers a user name and answers its access token.</summary>
public sealed class RegistrationEndpoint(ChatServer chat, IOptions<ServerOptions> options, ClientAddressLimits addressLimits, ClientAddresses addresses, ILogger<RegistrationEndpoint> logger)
{
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

            username = name.GetString();
        }
        catch (JsonException)
        {
            await HttpReply.ErrorAsync(response, 400, "invalid_json", "request body is not valid JSON").ConfigureAwait(false);
            return;
        }

        var outcome = await chat.RegisterAsync(username, cancellationToken).ConfigureAwait(false);
        if (outcome.Error is { } error)
        {
            var status = error.Code == "username_taken" ? 409 : 400;
            await HttpReply.ErrorAsync(response, status, error.Code, error.Message).ConfigureAwait(false);
            return;
        }

        logger.LogInformation("Registered user {User}", username);
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
