using System.Net;
using System.Reflection;
using System.Text.Json;
using TinyChat.Chat;

namespace TinyChat.Web;

/// <summary>
/// <c>GET /healthz</c>: liveness for load balancers and probes, with the version and the open connection count. Names
/// the node and the storage state in any case; answers 503 while the store cannot be reached (a load balancer then
/// sends new clients to another node).
/// </summary>
public sealed class HealthEndpoint(OpenConnections connections, ChatServer chat, IStoreHealth storage, TimeProvider time)
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

        var store = storage.Current;
        await HttpReply.JsonAsync(context.Response, store.Available ? 200 : 503, w => WriteHealth(w, store)).ConfigureAwait(false);
    }

    private void WriteHealth(Utf8JsonWriter w, StoreHealth store)
    {
        w.WriteStartObject();
        w.WriteString("status", store.Available ? "ok" : "unavailable");
        w.WriteString("version", Version);
        if (!store.Available)
        {
            w.WriteString("reason", $"storage unavailable: {store.Problem}");
        }

        w.WriteString("node", chat.Presence.Node);
        w.WriteStartObject("storage");
        w.WriteString("provider", store.Provider);
        w.WriteString("state", store.Available ? "available" : "unavailable");
        if (!store.Available)
        {
            w.WriteString("problem", store.Problem);
            if (store.Since is { } since)
            {
                w.WriteString("since", since);
            }
        }

        w.WriteEndObject();
        w.WriteNumber("connections", connections.Count);
        w.WriteNumber("uptime_seconds", (long)(time.GetUtcNow() - startedAt).TotalSeconds);
        w.WriteEndObject();
    }
}
