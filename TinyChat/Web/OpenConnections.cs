using System.Collections.Concurrent;
using System.Net.WebSockets;

namespace TinyChat.Web;

/// <summary>The live WebSocket connections: for idle sweeping, statistics and shutdown.</summary>
/// <remarks><paramref name="time"/> must be the clock the connections stamp their activity with.</remarks>
public sealed class OpenConnections(TimeProvider time)
{
    private readonly ConcurrentDictionary<long, WebSocketConnection> connections = new();

    /// <summary>Connections open now.</summary>
    public int Count => connections.Count;

    /// <summary>Connections of one user.</summary>
    public int CountOf(string user) => connections.Values.Count(c => c.User == user);

    /// <summary>Tracks a connection until it closes.</summary>
    public void Add(WebSocketConnection connection) => connections[connection.Id] = connection;

    /// <summary>Forgets a closed connection.</summary>
    public void Remove(WebSocketConnection connection) => connections.TryRemove(connection.Id, out _);

    /// <summary>Closes every connection whose last frame is older than <paramref name="idleTimeout"/>.</summary>
    public int CloseIdle(TimeSpan idleTimeout)
    {
        var now = time.GetTimestamp();
        var closedCount = 0;
        foreach (var connection in connections.Values)
        {
            if (time.GetElapsedTime(connection.LastActivity, now) > idleTimeout)
            {
                connection.Close(WebSocketCloseStatus.PolicyViolation, $"idle timeout: nothing received for {idleTimeout.TotalSeconds:0.#} s", drain: false);
                closedCount++;
            }
        }

        return closedCount;
    }

    /// <summary>Closes every connection with 1001 after sending what is queued; aborts those still open after <paramref name="grace"/>.</summary>
    public async Task CloseAllAsync(TimeSpan grace)
    {
        var all = connections.Values.ToArray();
        foreach (var connection in all)
        {
            connection.Close(WebSocketCloseStatus.EndpointUnavailable, "server shutting down", drain: true);
        }

        var everyone = Task.WhenAll(all.Select(c => c.Closed));
        if (await Task.WhenAny(everyone, Task.Delay(grace, time)).ConfigureAwait(false) != everyone)
        {
            foreach (var connection in all)
            {
                connection.Abort();
            }
        }
    }
}
