using System.Net;
using System.Net.Sockets;
using System.Reflection;
using TinyChat.Web;

namespace TinyChat.Protocols.Http;

/// <summary>
/// The send side of one event stream: the chunked body of an HTTP response. An SSE client never sends anything
/// after its request, so the stream's end is the only thing its "receive side" waits for (<see cref="Ended"/>).
/// </summary>
public sealed class SseTransport(HttpListenerContext context) : ITransport
{
    private readonly HttpListenerResponse response = context.Response;
    private readonly TaskCompletionSource ended = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int aborted;

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
                // HttpListener's own abort first writes the chunked trailer, synchronously: on a reader that stopped
                // reading that blocks a thread for as long as the client stays. Shut the socket down first, so the
                // pending write and the trailer fail at once.
                SocketOf(context)?.Shutdown(SocketShutdown.Both);
                response.Abort();
            }
            catch (Exception ex) when (ex is HttpListenerException or IOException or ObjectDisposedException or InvalidOperationException)
            {
                // Already gone.
            }
        }

        ended.TrySetResult();
    }

    // The managed HttpListener keeps the connection's socket private; found once per type by shape, not by name, and
    // null (plain Abort) where the implementation has none.
    private static Socket? SocketOf(HttpListenerContext context)
    {
        const BindingFlags Instance = BindingFlags.Instance | BindingFlags.NonPublic | BindingFlags.Public;
        try
        {
            foreach (var field in typeof(HttpListenerContext).GetFields(Instance))
            {
                var connection = field.GetValue(context);
                var socketField = connection?.GetType().GetFields(Instance).FirstOrDefault(f => f.FieldType == typeof(Socket));
                if (socketField?.GetValue(connection) is Socket socket)
                {
                    return socket;
                }
            }
        }
        catch (Exception ex) when (ex is FieldAccessException or TargetException or NotSupportedException)
        {
        }

        return null;
    }
}
