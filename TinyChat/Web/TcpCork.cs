using System.Net.Sockets;

namespace TinyChat.Web;

/// <summary>
/// Linux's <c>TCP_CORK</c> on one socket: while set, the kernel sends only full segments; clearing it sends the rest
/// at once (and the kernel never holds data longer than 200 ms anyway). Only timing changes: the bytes and their order
/// are the same, so a keep-alive ping or close frame written meanwhile is merely held with the frames.
/// </summary>
public sealed class TcpCork(Socket socket) : ISendCork
{
    private const int SolTcp = 6;
    private const int TcpCorkOption = 3;

    /// <summary>Whether <c>TCP_CORK</c> exists here (it is Linux's; other systems get no cork, and today's writes).</summary>
    public static bool Supported => OperatingSystem.IsLinux();

    /// <inheritdoc />
    public void Cork() => Set(1);

    /// <inheritdoc />
    public void Uncork() => Set(0);

    /// <summary>Whether the option is set on the socket now (for tests).</summary>
    public bool IsCorked()
    {
        Span<byte> value = stackalloc byte[4];
        return socket.GetRawSocketOption(SolTcp, TcpCorkOption, value) == 4 && BitConverter.ToInt32(value) != 0;
    }

    private void Set(int on)
    {
        Span<byte> value = stackalloc byte[4];
        BitConverter.TryWriteBytes(value, on);
        try
        {
            socket.SetRawSocketOption(SolTcp, TcpCorkOption, value);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // A connection cut meanwhile (Abort): the write in progress reports it; nothing is left to hold or send.
        }
    }
}
