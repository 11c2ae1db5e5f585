using System.Net;
using System.Text.Json;

namespace TinyChat.Web;

/// <summary><c>GET /healthz</c>: liveness for load balancers and probes, with the open connection count.</summary>
public sealed class HealthEndpoint(OpenConnections connections, TimeProvider time)
{
    private readonly DateTimeOffset startedAt = time.GetUtcNow();

    /// <summary>Handles one request.</summary>
    public async Task HandleAsync(HttpListenerContext context, CancellationToken cancellationToken)
    {
        if (context.Request.HttpMethod is not ("GET" or "HEAD"))
        {
            await HttpReply.MethodNotAllowedAsync(context.Response, "GET, HEAD").ConfigureAwait(false);
            return;
        }

        await HttpReply.JsonAsync(context.Response, 200, WriteHealth).ConfigureAwait(false);
    }

    private void WriteHealth(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("status", "ok");
        w.WriteNumber("connections", connections.Count);
        w.WriteNumber("uptime_seconds", (long)(time.GetUtcNow() - startedAt).TotalSeconds);
        w.WriteEndObject();
    }
}
