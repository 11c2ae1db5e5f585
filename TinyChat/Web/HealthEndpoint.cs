using System.Net;
using System.Reflection;
using System.Text.Json;

namespace TinyChat.Web;

/// <summary><c>GET /healthz</c>: liveness for load balancers and probes, with the version and the open connection count.</summary>
public sealed class HealthEndpoint(OpenConnections connections, TimeProvider time)
{
    private readonly DateTimeOffset startedAt = time.GetUtcNow();

    /// <summary>The server's version, as <c>--version</c> prints it (the assembly's informational version).</summary>
    public static string Version { get; } =
        typeof(HealthEndpoint).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
        ?? typeof(HealthEndpoint).Assembly.GetName().Version?.ToString()
        ?? "unknown";

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
        w.WriteString("version", Version);
        w.WriteNumber("connections", connections.Count);
        w.WriteNumber("uptime_seconds", (long)(time.GetUtcNow() - startedAt).TotalSeconds);
        w.WriteEndObject();
    }
}
