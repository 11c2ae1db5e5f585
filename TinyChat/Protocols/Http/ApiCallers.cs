using System.Net;
using System.Text;
using System.Text.Json;
using System.Web;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Runtime;
using TinyChat.Web;

namespace TinyChat.Protocols.Http;

/// <summary>
/// Lets a plain API request act as its user. A request is a short connection: it is admitted like any other
/// (token, one of the user's connection slots) and gets a <see cref="ChatClient"/> for its duration, so every rule
/// (membership, quotas, message rate, name and length checks) is decided by the core, the same as for a WebSocket.
/// A request receives no events and does not make its user online (<see cref="Admission.ConnectRequestAsync"/>):
/// a bot that only posts never appears in presence. On top, one user's requests are limited per second (the
/// <c>Limits:FramesPerSecond</c> a WebSocket frame gets), so a flood of cheap reads answers 429 too.
/// </summary>
public sealed class ApiCallers(SignIns signIns, ClientAddresses addresses, IOptions<LimitsOptions> limits, TimeProvider time) : IForgetsIdle
{
    // One bucket per user who called lately: a refilled one is forgotten by the idle sweep (a fresh one is the same).
    private readonly TokenBuckets<string> requestBudgets = new(limits.Value.FramesPerSecond, limits.Value.FrameBurst, time, StringComparer.Ordinal);

    /// <summary>Users whose request budget is kept now (tests watch it shrink).</summary>
    public int BudgetsKept => requestBudgets.Count;

    /// <summary>Forgets every request budget that has refilled.</summary>
    public int ForgetIdle() => requestBudgets.ForgetFull();

    /// <summary>Runs <paramref name="act"/> as the request's user, or answers why the request may not act.</summary>
    public async Task<ApiResponse> ActAsync(HttpListenerRequest request, Func<ChatClient, Task<ApiResponse>> act, CancellationToken cancellationToken)
    {
        var admitted = await signIns.AdmitAsync(addresses.Of(request), Credentials.AccessToken(request), cancellationToken).ConfigureAwait(false);
        if (admitted.Error is { } error)
        {
            return error.Code == "missing_token"
                ? ApiResponse.Error(401, error.Code, "an access token is required (Authorization: Bearer, or the access_token query parameter)")
                : ApiResponse.From(error);
        }

        await using var admission = admitted.Value!;
        if (!requestBudgets.TryTake(admission.User))
        {
            ChatMetrics.RateLimitedFrames.Add(1, ChatMetrics.Protocol("http"));
            return ApiResponse.Error(429, "rate_limited", "too many API requests; slow down", retryAfterSeconds: 1);
        }

        var client = await admission.ConnectRequestAsync(cancellationToken).ConfigureAwait(false);
        await using (client.ConfigureAwait(false))
        {
            return await act(client).ConfigureAwait(false);
        }
    }
}

/// <summary>Reads the text fields of a request body: JSON (<c>{"message": "..."}</c>) or an HTML form post.</summary>
public static class ApiBody
{
    /// <summary>
    /// Every top-level field of the body as text (JSON strings as they are, numbers and booleans as JSON writes
    /// them; nested values are refused), or the answer that refuses the body (413, 415, 400, 422). Given
    /// <paramref name="only"/>, just that field is read, and in JSON it must be a string.
    /// </summary>
    public static async Task<(IReadOnlyDictionary<string, string>? Fields, ApiResponse? Refusal)> ReadFieldsAsync(HttpListenerRequest request, int limit, CancellationToken cancellationToken, string? only = null)
    {
        var mediaType = MediaType(request);
        if (mediaType is not ("application/json" or "application/x-www-form-urlencoded"))
        {
            return (null, ApiResponse.Error(415, "unsupported_media_type", "send application/json or application/x-www-form-urlencoded"));
        }

        var body = await RequestBody.ReadAsync(request, limit, cancellationToken).ConfigureAwait(false);
        if (body is null)
        {
            return (null, ApiResponse.Error(413, "body_too_large", $"request body exceeds {limit} bytes"));
        }

        var fields = new Dictionary<string, string>(StringComparer.Ordinal);
        if (mediaType == "application/x-www-form-urlencoded")
        {
            string form;
            try
            {
                form = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(body);
            }
            catch (DecoderFallbackException)
            {
                return (null, ApiResponse.Error(400, "bad_request", "the form is not valid UTF-8"));
            }

            var parsed = HttpUtility.ParseQueryString(form);
            foreach (var key in parsed.AllKeys)
            {
                if (key is not null && (only is null || key == only) && parsed[key] is { } value)
                {
                    fields[key] = value;
                }
            }

            return (fields, null);
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
            {
                return (null, only is null ? ApiResponse.Error(422, "invalid_field", "expected a JSON object") : ExpectedText(only));
            }

            foreach (var property in root.EnumerateObject())
            {
                if (only is not null && property.Name != only)
                {
                    continue;
                }

                switch (property.Value.ValueKind)
                {
                    case JsonValueKind.String:
                        fields[property.Name] = property.Value.GetString()!;
                        break;
                    case not JsonValueKind.String when only is not null:
                        return (null, ExpectedText(only));
                    case JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False:
                        fields[property.Name] = property.Value.GetRawText();
                        break;
                    case JsonValueKind.Null:
                        break;
                    default:
                        return (null, ApiResponse.Error(422, "invalid_field", $"\"{property.Name}\" must be a string, a number or a boolean"));
                }
            }

            return (fields, null);
        }
        catch (JsonException)
        {
            return (null, ApiResponse.Error(400, "invalid_json", "request body is not valid JSON"));
        }
    }

    /// <summary>The field's text, or the answer that refuses the body (413, 415, 400, 422). Never reads past <paramref name="limit"/>+1 bytes.</summary>
    public static async Task<(string? Value, ApiResponse? Refusal)> ReadFieldAsync(HttpListenerRequest request, string field, int limit, CancellationToken cancellationToken)
    {
        var (fields, refusal) = await ReadFieldsAsync(request, limit, cancellationToken, only: field).ConfigureAwait(false);
        if (refusal is not null)
        {
            return (null, refusal);
        }

        if (fields!.TryGetValue(field, out var value))
        {
            return (value, null);
        }

        return (null, MediaType(request) == "application/json"
            ? ExpectedText(field)
            : ApiResponse.Error(422, "invalid_field", $"the form needs a field \"{field}\""));
    }

    private static string? MediaType(HttpListenerRequest request) => request.ContentType?.Split(';')[0].Trim().ToLowerInvariant();

    private static ApiResponse ExpectedText(string field) => ApiResponse.Error(422, "invalid_field", $"expected a JSON object with a string field \"{field}\"");
}
