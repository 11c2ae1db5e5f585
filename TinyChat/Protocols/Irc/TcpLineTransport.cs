using System.Buffers;
using System.Net.Sockets;
using System.Text;
using TinyChat.Web;

namespace TinyChat.Protocols.Irc;

/// <summary>
/// The send side of a line protocol over TCP (IRC): frames are CR LF terminated lines, written as they are; several
/// frames go out in one send; closing writes <c>ERROR :reason</c> and shuts the send direction down.
/// </summary>
public sealed class TcpLineTransport(Socket socket, TimeProvider time) : ITransport
{
    private static readonly TimeSpan CloseTimeout = TimeSpan.FromSeconds(2);
    private readonly ArrayBufferWriter<byte> gathered = new(4096);
    private int aborted;

    /// <inheritdoc />
    public async ValueTask WriteAsync(ReadOnlyMemory<byte> frame, CancellationToken cancellationToken)
    {
        try
        {
            while (!frame.IsEmpty)
            {
                var sent = await socket.SendAsync(frame, SocketFlags.None, cancellationToken).ConfigureAwait(false);
                frame = frame[sent..];
            }
        }
        catch (SocketException ex)
        {
            throw new IOException(ex.Message, ex);
        }
    }

    /// <inheritdoc />
    public ValueTask WriteManyAsync(IReadOnlyList<ReadOnlyMemory<byte>> frames, CancellationToken cancellationToken)
    {
        // One send for the run: fewer packets and syscalls than a send per line.
        gathered.ResetWrittenCount();
        for (var i = 0; i < frames.Count; i++)
        {
            gathered.Write(frames[i].Span);
        }

        return WriteAsync(gathered.WrittenMemory, cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask CloseAsync(int code, string reason, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref aborted) != 0)
        {
            return;
        }

        using var timeout = new CancellationTokenSource(CloseTimeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        if (reason.Length > 0)
        {
            await WriteAsync(Encoding.UTF8.GetBytes(IrcFormat.Line(null, "ERROR", reason)), linked.Token).ConfigureAwait(false);
        }

        try
        {
            // Our half only: the receive side reads on until the client closes, so it is not reset with unread input.
            socket.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException ex)
        {
            throw new IOException(ex.Message, ex);
        }
    }

    /// <inheritdoc />
    public void Abort()
    {
        if (Interlocked.Exchange(ref aborted, 1) == 0)
        {
            try
            {
                socket.Close(0);
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}
