using System.Net;
using TinyChat.Web;

namespace TinyChat.Protocols.Http;

/// <summary>
/// The send side of one event stream: the body of an HTTP response, sent with <c>TCP_NODELAY</c> and a run of events
/// corked (<see cref="ListenerSockets.ForEventStream"/>). An SSE client never sends anything after its request, so
/// the stream's end is the only thing its "receive side" waits for (<see cref="Ended"/>).
/// </summary>
public sealed class SseTransport : ITransport
{
    private readonly HttpListenerResponse response;
    private readonly ISendCork? cork;
    private readonly TaskCompletionSource ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int aborted;

    /// <summary>The stream over <paramref name="context"/>'s response; its socket sends each write at once from now on.</summary>
    public SseTransport(HttpListenerContext context)
    {
        response = context.Response;
        cork = ListenerSockets.ForEventStream(context);
    }

    /// <summary>Completes once the response is closed or cut.</summary>
    public Task Ended => ended.Task;

    /// <inheritdoc />
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        try
        {
            await response.OutputStream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
            await response.OutputStream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (HttpListenerException ex)
        {
            // The outbox treats IOException as "the peer is gone"; HttpListener reports it in its own type.
            throw new IOException("the event stream's client is gone", ex);
        }
    }

    /// <inheritdoc />
    public async ValueTask WriteManyAsync(IReadOnlyList<ReadOnlyMemory<byte>> frames, CancellationToken cancellationToken)
    {
        // Each event is a socket write of its own; corked, the kernel packs them into full segments.
        cork?.Cork();
        try
        {
            foreach (var frame in frames)
            {
                await response.OutputStream.WriteAsync(frame, cancellationToken).ConfigureAwait(false);
            }

            await response.OutputStream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (HttpListenerException ex)
        {
            throw new IOException("the event stream's client is gone", ex);
        }
        finally
        {
            cork?.Uncork();
        }
    }

    /// <inheritdoc />
    public ValueTask CloseAsync(int code, string reason, CancellationToken cancellationToken)
    {
        // SSE has no close code: the end of the body is the goodbye, and the client reconnects with Last-Event-ID.
        try
        {
            response.Close();
        }
        catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
        {
            Abort();
        }
        finally
        {
            ended.TrySetResult();
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public void Abort()
    {
        if (Interlocked.Exchange(ref aborted, 1) == 0)
        {
            try
            {
                // The body is delimited by the connection (see Frame), so HttpListener writes nothing more here: it
                // shuts the socket down and closes it at once, whatever the reader does.
                response.Abort();
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
            {
                // Already gone.
            }
        }

        ended.TrySetResult();
    }

    /// <summary>
    /// Sets the framing of an event stream's response, before anything is written: the body ends where the
    /// connection ends (<c>Connection: close</c>, and a Content-Length no stream reaches, so HttpListener neither
    /// chunks it nor keeps the connection for another request).
    /// </summary>
    /// <remarks>
    /// Why not chunked: closing a chunked response makes HttpListener (the managed one, on Linux) write the final
    /// chunk synchronously before it closes the socket, and on a reader that stopped reading with a full send buffer
    /// that write never returns: the slow reader would keep its socket and a thread for as long as it stays. With
    /// nothing left to write, <see cref="Abort"/> closes the socket at once. Readers see the end of the body as the
    /// end of the stream, which is what SSE clients act on (they reconnect with <c>Last-Event-ID</c>).
    /// </remarks>
    public static void Frame(HttpListenerResponse response)
    {
        response.KeepAlive = false;
        response.ContentLength64 = long.MaxValue;
    }
}
