using System.Net;
using System.Text.Json;

namespace TinyChat.Web;

/// <summary>Writes HTTP responses; every error has a JSON body <c>{"error": text, "code": code}</c>.</summary>
public static class HttpReply
{
    /// <summary>Writes a JSON body built by <paramref name="write"/> and closes the response.</summary>
    public static async Task JsonAsync(HttpListenerResponse response, int status, Action<Utf8JsonWriter> write)
    {
        using var body = new MemoryStream();
        using (var writer = new Utf8JsonWriter(body))
        {
            write(writer);
        }

        response.StatusCode = status;
        response.ContentType = "application/json; charset=utf-8";
        response.Headers["Cache-Control"] = "no-store";
        response.Headers["X-Content-Type-Options"] = "nosniff";
        await SendAsync(response, body.GetBuffer().AsMemory(0, (int)body.Length)).ConfigureAwait(false);
    }

    /// <summary>
    /// Writes <paramref name="body"/> as the whole response body (status and headers already set) and ends the
    /// response; an error answer to a request with a body lingers first (<see cref="LingeringClose"/>).
    /// </summary>
    public static async Task SendAsync(HttpListenerResponse response, ReadOnlyMemory<byte> body)
    {
        var lingering = LingeringClose.Prepare(response);
        response.ContentLength64 = body.Length;
        try
        {
            await response.OutputStream.WriteAsync(body).ConfigureAwait(false);
            await LingeringClose.EndAsync(lingering).ConfigureAwait(false);
        }
        finally
        {
            response.Close();
        }
    }

    /// <summary>Writes a JSON error.</summary>
    public static Task ErrorAsync(HttpListenerResponse response, int status, string code, string error) =>
        JsonAsync(response, status, w =>
        {
            w.WriteStartObject();
            w.WriteString("error", error);
            w.WriteString("code", code);
            w.WriteEndObject();
        });

    /// <summary>405 with an <c>Allow</c> header.</summary>
    public static Task MethodNotAllowedAsync(HttpListenerResponse response, string allow)
    {
        response.Headers["Allow"] = allow;
        return ErrorAsync(response, 405, "method_not_allowed", $"method not allowed; allowed: {allow}");
    }
}
