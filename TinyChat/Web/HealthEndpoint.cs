using System.Net;
using System.Reflection;
using System.Text.Json;
using TinyChat.Chat;

namespace TinyChat.Web;

/// <summary>
/// <c>GET /healthz</c>: liveness for load balancers and probes, with the version and the open connection count. Names
/// the node, the storage state and the bus state in any case; answers 503 while the store cannot be reached, or while
/// a cluster node has not heard the other nodes for longer than the node timeout (a load balancer then sends new
/// clients to another node).
/// </summary>
public sealed class HealthEndpoint(OpenConnections connections, ChatServer chat, IStoreHealth storage, IBusHealth bus, TimeProvider time)
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
        var events = bus.Current;
        var healthy = store.Available && events.Available;
        await HttpReply.JsonAsync(context.Response, healthy ? 200 : 503, w => WriteHealth(w, store, events)).ConfigureAwait(false);
    }

    private void WriteHealth(Utf8JsonWriter w, StoreHealth store, BusHealth events)
    {
        var now = time.GetUtcNow();
        w.WriteStartObject();
        w.WriteString("status", store.Available && events.Available ? "ok" : "unavailable");
        w.WriteString("version", Version);
        var reasons = new List<string>(2);
        if (!store.Available)
        {
            reasons.Add($"storage unavailable: {store.Problem}");
        }

        if (!events.Available)
        {
            reasons.Add($"not hearing the other nodes for {DownSeconds(events, now)} s: {events.Problem}");
        }

        if (reasons.Count > 0)
        {
            w.WriteString("reason", string.Join("; ", reasons));
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
        w.WriteStartObject("bus");
        w.WriteString("kind", events.Kind);
        w.WriteString("state", events.Listening ? "listening" : "reconnecting");
        if (!events.Listening)
        {
            w.WriteString("problem", events.Problem);
            if (events.Since is { } down)
            {
                w.WriteString("since", down);
                w.WriteNumber("down_seconds", DownSeconds(events, now));
            }
        }

        if (events.Notifications is { } counts)
        {
            w.WriteStartObject("notifications");
            w.WriteNumber("sent", counts.Sent);
            w.WriteNumber("received", counts.Received);
            w.WriteNumber("dropped", counts.Dropped);
            w.WriteEndObject();
        }

        w.WriteEndObject();
        w.WriteNumber("connections", connections.Count);
        w.WriteNumber("uptime_seconds", (long)(time.GetUtcNow() - startedAt).TotalSeconds);
        w.WriteEndObject();
    }

    private static long DownSeconds(BusHealth events, DateTimeOffset now) =>
        events.Since is { } since ? Math.Max(0, (long)(now - since).TotalSeconds) : 0;
}
