using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using TinyChat.Chat;
using TinyChat.Runtime;

namespace TinyChat.Web;

/// <summary>
/// The life of one admitted WebSocket, the same for every WebSocket front door: connect to the core, run the
/// protocol until the socket closes, contain a failure to this connection, give the slot back and log why it ended.
/// </summary>
public static class WebSocketLifetime
{
    /// <summary>
    /// Connects <paramref name="outbox"/> (the connection itself, or a protocol's filter in front of it) through the
    /// admission and runs <paramref name="protocol"/> on <paramref name="connection"/> until it closes. Never throws
    /// for a client's failure; <paramref name="door"/> names the front door in logs.
    /// </summary>
    public static async Task RunAsync(
        string door,
        Admission admission,
        WebSocketConnection connection,
        IOutbox outbox,
        Func<ChatClient, IFrameHandler> protocol,
        OpenConnections connections,
        ILogger logger,
        CancellationToken cancellationToken)
    {
        var user = admission.User;
        var protocolTag = ChatMetrics.Protocol(MetricName(door));
        ChatMetrics.Connections.Add(1, protocolTag);
        connections.Add(connection);

        // Every log line of this connection, wherever it is written below, names it and its user.
        using var scope = logger.BeginScope(new ConnectionScope(connection.Id, user, door));
        ChatClient? client = null;
        try
        {
            client = await admission.ConnectAsync(outbox, cancellationToken).ConfigureAwait(false);
            if (logger.IsEnabled(LogLevel.Debug))
            {
                // Guarded: the call would box and pack its arguments on every connect even with debug logging off.
                logger.LogDebug("{Door} connection {Connection} opened for {User}", door, connection.Id, user);
            }

            await connection.RunAsync(protocol(client), cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (client is not null)
        {
            // One client's input must never reach further than its own connection: log once, with context, and close it.
            logger.LogError(ex, "{Door} connection {Connection} of {User} failed and was closed", door, connection.Id, user);
            connection.Close(WebSocketCloseStatus.InternalServerError, "internal error", drain: false);
            connection.Abort();
        }
        catch (Exception ex) when (client is null)
        {
            logger.LogWarning(ex, "{Door} connection {Connection} of {User} could not join its session", door, connection.Id, user);
            connection.Close(WebSocketCloseStatus.InternalServerError, "session unavailable, reconnect", drain: false);
            await connection.RunAsync(Discard.Instance, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            if (client is not null)
            {
                await client.DisposeAsync().ConfigureAwait(false);
            }

            if (connection.ServerCloseReason is { Length: > 0 } reason)
            {
                // Routine closes are information; a client closed for what it did (slow, flooding, oversized) is a warning.
                var routine = connection.ServerCloseStatus is WebSocketCloseStatus.EndpointUnavailable || reason.StartsWith("idle", StringComparison.Ordinal);
                logger.Log(routine ? LogLevel.Information : LogLevel.Warning, "{Door} connection {Connection} of {User} closed by server: {Code} {Reason}", door, connection.Id, user, (int?)connection.ServerCloseStatus, reason);
            }

            connections.Remove(connection);
            ChatMetrics.Connections.Add(-1, protocolTag);
        }
    }

    // The metric tag's spelling of a door, without lowering the same name again on every connect.
    private static string MetricName(string door) => door switch
    {
        "JSON" => "json",
        "Phoenix" => "phoenix",
        _ => door.ToLowerInvariant(),
    };

    private sealed class Discard : IFrameHandler
    {
        public static readonly Discard Instance = new();

        public ValueTask OnTextAsync(ReadOnlyMemory<byte> utf8, CancellationToken cancellationToken) => ValueTask.CompletedTask;

        public ValueTask OnBinaryAsync(CancellationToken cancellationToken) => ValueTask.CompletedTask;
    }
}
