using System.Buffers;
using System.Net;
using System.Runtime.CompilerServices;

namespace TinyChat.Web;

/// <summary>
/// nginx's lingering close for HTTP error answers. A client still sending a body when the server answers (a 413 for
/// a body too large, a 429 or 401 before the body was read) is told with <c>Connection: close</c>; closing at once
/// with its bytes unread would make the kernel reset the connection, and a reset discards the answer the client has
/// not read yet. So the server first reads and discards what is left of the body, for at most
/// <see cref="MaxTime"/> and <see cref="MaxBytes"/>, then closes. WebSocket close frames linger the same way
/// (<see cref="WebSocketConnection"/>).
/// </summary>
public static class LingeringClose
{
    /// <summary>
    /// The most input read and discarded after an error answer or a close frame. Generous on purpose: stopping
    /// early is the reset this exists to avoid (Node's client lost one 413 in five when 4 MB of a 5 MB body were
    /// left unread); the time bound is what limits a hostile client.
    /// </summary>
    public const int MaxBytes = 16 * 1024 * 1024;

    /// <summary>The longest the server keeps reading after an error answer or a close frame.</summary>
    public static readonly TimeSpan MaxTime = TimeSpan.FromSeconds(5);

    // The request each response answers, for the writers that are given only the response.
    private static readonly ConditionalWeakTable<HttpListenerResponse, Answering> Requests = new();

    /// <summary>Remembers which request <paramref name="context"/>'s response answers; the server calls it once per request.</summary>
    public static void Track(HttpListenerContext context, TimeProvider time) => Requests.AddOrUpdate(context.Response, new Answering(context.Request, time));

    /// <summary>
    /// Called before an answer's headers go out: an error answer to a request with a body ends the connection
    /// (the rest of the body is not worth keeping the connection for). Returns what <see cref="EndAsync"/> needs.
    /// </summary>
    public static object? Prepare(HttpListenerResponse response)
    {
        if (response.StatusCode < 400 || !Requests.TryGetValue(response, out var answering) || !answering.Request.HasEntityBody)
        {
            return null;
        }

        response.KeepAlive = false;
        return answering;
    }

    /// <summary>After the answer was written: discards what is left of the request body (bounded) when <see cref="Prepare"/> said so.</summary>
    public static async Task EndAsync(object? prepared)
    {
        if (prepared is not Answering answering)
        {
            return;
        }

        await DiscardAsync(answering.Request.InputStream, MaxBytes, MaxTime, answering.Time).ConfigureAwait(false);
    }

    /// <summary>
    /// Reads and discards <paramref name="input"/> until it ends, <paramref name="maxBytes"/> were read or
    /// <paramref name="maxTime"/> passed. Never throws for a broken connection: the caller closes it next anyway,
    /// which also ends a read still pending.
    /// </summary>
    public static async Task<long> DiscardAsync(Stream input, int maxBytes, TimeSpan maxTime, TimeProvider time)
    {
        var started = time.GetTimestamp();
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        long discarded = 0;
        var abandoned = false;
        try
        {
            while (discarded < maxBytes)
            {
                var left = maxTime - time.GetElapsedTime(started);
                if (left <= TimeSpan.Zero)
                {
                    break;
                }

                // A stream read may ignore cancellation, so the wait is bounded from outside.
                var read = input.ReadAsync(buffer, 0, (int)Math.Min(buffer.Length, maxBytes - discarded));
                int count;
                try
                {
                    count = await read.WaitAsync(left, time).ConfigureAwait(false);
                }
                catch (TimeoutException)
                {
                    // The read may still complete into the buffer: it must not go back to the pool.
                    abandoned = true;
                    _ = read.ContinueWith(static t => t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                    break;
                }

                if (count == 0)
                {
                    break;
                }

                discarded += count;
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or HttpListenerException or InvalidOperationException)
        {
            // The client went away: nothing left to protect.
        }
        finally
        {
            if (!abandoned)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        return discarded;
    }

    private sealed record Answering(HttpListenerRequest Request, TimeProvider Time);
}
