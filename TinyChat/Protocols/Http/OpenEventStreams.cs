using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Runtime;
using TinyChat.Web;

namespace TinyChat.Protocols.Http;

/// <summary>
/// The open event streams. Stopped before the HTTP server: every stream is ended after its queued events, and those
/// still open after the shutdown grace are cut.
/// </summary>
public sealed class OpenEventStreams(IOptions<ServerOptions> options, TimeProvider time, ILogger<OpenEventStreams> logger) : IHostedService
{
    private readonly ConcurrentDictionary<long, EventStream> streams = new();
    private static readonly KeyValuePair<string, object?> Sse = ChatMetrics.Protocol("sse");
    private volatile bool stopping;

    /// <summary>Streams open now.</summary>
    public int Count => streams.Count;

    /// <summary>Tracks a stream until it ends; false (and the stream is not tracked) once shutdown began.</summary>
    public bool TryAdd(EventStream stream)
    {
        streams[stream.Id] = stream;
        ChatMetrics.Connections.Add(1, Sse);
        if (stopping)
        {
            Remove(stream);
            return false;
        }

        return true;
    }

    /// <summary>Forgets an ended stream.</summary>
    public void Remove(EventStream stream)
    {
        if (streams.TryRemove(stream.Id, out _))
        {
            ChatMetrics.Connections.Add(-1, Sse);
        }
    }

    /// <summary>Ends every open stream after what it has queued (clients resume with Last-Event-ID).</summary>
    public void EndAll(string reason)
    {
        foreach (var stream in streams.Values)
        {
            stream.Close(reason, drain: true);
        }
    }

    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        stopping = true;
        var all = streams.Values.ToArray();
        if (all.Length == 0)
        {
            return;
        }

        logger.LogInformation("Ending {Streams} event streams", all.Length);
        EndAll("server shutting down");

        var everyone = Task.WhenAll(all.Select(s => s.Closed));
        var grace = Task.Delay(TimeSpan.FromSeconds(options.Value.ShutdownGraceSeconds), time);
        if (await Task.WhenAny(everyone, grace).ConfigureAwait(false) != everyone)
        {
            foreach (var stream in all)
            {
                stream.Abort();
            }
        }
    }
}
