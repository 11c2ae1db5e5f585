using System.Net.Sockets;

namespace TinyChat.Web;

/// <summary>
/// Linux's <c>TCP_CORK</c> on one socket: while set, the kernel sends only full segments; clearing it sends the rest
/// at once (and the kernel never holds data longer than 200 ms anyway). Only timing changes: the bytes and their order
/// are the same, so a keep-alive ping or close frame written meanwhile is merely held with the frames.
/// </summary>
public sealed class TcpCork : ISendCork
{
    private const int SolTcp = 6;
    private const int TcpNoDelayOption = 1;
    private const int TcpCorkOption = 3;
    private readonly Socket socket;
    private readonly bool nagle;

    /// <summary>A cork on <paramref name="socket"/>, which keeps its Nagle setting.</summary>
    public TcpCork(Socket socket)
    {
        this.socket = socket;
        try
        {
            nagle = !socket.NoDelay;
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }
    }

    /// <summary>Whether <c>TCP_CORK</c> exists here (it is Linux's; other systems get no cork, and today's writes).</summary>
    public static bool Supported => OperatingSystem.IsLinux();

    /// <inheritdoc />
    public void Cork() => Set(TcpCorkOption, 1);

    /// <inheritdoc />
    public void Uncork()
    {
        Set(TcpCorkOption, 0);

        // Under Nagle (HttpListener leaves it on) the kernel would hold the last part-filled segment until the
        // client acknowledges the full ones, which a delayed ACK puts off by up to 40 ms: that stalled every run
        // (Phoenix 1x1000 fell to a third of its deliveries/s). Switching TCP_NODELAY on sends it now; switching it
        // back keeps single writes exactly as they were.
        if (nagle)
        {
            Set(TcpNoDelayOption, 1);
            Set(TcpNoDelayOption, 0);
        }
    }

    /// <summary>Whether the option is set on the socket now (for tests).</summary>
    public bool IsCorked()
    {
        Span<byte> value = stackalloc byte[4];
        return socket.GetRawSocketOption(SolTcp, TcpCorkOption, value) == 4 && BitConverter.ToInt32(value) != 0;
    }

    private void Set(int option, int on)
    {
        Span<byte> value = stackalloc byte[4];
        BitConverter.TryWriteBytes(value, on);
        try
        {
            socket.SetRawSocketOption(SolTcp, option, value);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
            // A connection cut meanwhile (Abort): the write in progress reports it; nothing is left to hold or send.
        }
    }
}
