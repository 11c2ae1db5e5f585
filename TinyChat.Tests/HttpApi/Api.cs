using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace TinyChat.Tests.HttpApi;

/// <summary>Small request builders for the HTTP API tests.</summary>
public static class Api
{
    public static async Task<(int Status, JsonElement Body, HttpResponseMessage Response)> SendAsync(
        HttpClient http, HttpMethod method, string path, string? token, string? body = null, string contentType = "application/json", string? idempotencyKey = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        if (idempotencyKey is not null)
        {
            request.Headers.TryAddWithoutValidation("Idempotency-Key", idempotencyKey);
        }

        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8);
            request.Content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        }
        else if (method == HttpMethod.Put || method == HttpMethod.Post)
        {
            request.Content = new ByteArrayContent([]);
        }

        var response = await http.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        var json = text.Length > 0 ? JsonDocument.Parse(text).RootElement.Clone() : default;
        return ((int)response.StatusCode, json, response);
    }

    public static Task<(int Status, JsonElement Body, HttpResponseMessage Response)> GetAsync(HttpClient http, string path, string? token) =>
        SendAsync(http, HttpMethod.Get, path, token);

    public static Task<(int Status, JsonElement Body, HttpResponseMessage Response)> PostMessageAsync(HttpClient http, string path, string token, string message, string? idempotencyKey = null) =>
        SendAsync(http, HttpMethod.Post, path, token, JsonSerializer.Serialize(new { message }), idempotencyKey: idempotencyKey);

    public static string Message(SseEvent e) => JsonDocument.Parse(e.Data!).RootElement.GetProperty("message").GetString()!;
}
