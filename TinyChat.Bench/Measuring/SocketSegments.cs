using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace TinyChat.Bench.Measuring;

/// <summary>
/// Segments split by direction and role, read from the kernel's <c>TCP_INFO</c> of the bench's own client sockets
/// (Linux): a member's or sender's segments in are what the server sent it (on loopback nothing is lost), its
/// segments out what it sent, each split into data and pure ACKs. A sender is a client socket that sent data during
/// the window; every other client socket of the target is a member.
/// </summary>
public readonly record struct SocketSegments(
    long MemberDataIn,
    long MemberAcksIn,
    long MemberDataOut,
    long MemberAcksOut,
    long SenderDataIn,
    long SenderAcksIn,
    long SenderDataOut,
    long SenderAcksOut)
{
    // SOL_TCP / TCP_INFO and the offsets of the counters in struct tcp_info (include/uapi/linux/tcp.h).
    private const int SolTcp = 6;
    private const int TcpInfo = 11;
    private const int InfoBytes = 160;
    private const int SegsOutOffset = 136;
    private const int SegsInOffset = 140;
    private const int DataSegsInOffset = 152;
    private const int DataSegsOutOffset = 156;

    /// <summary>Every counted segment.</summary>
    public long Total => MemberDataIn + MemberAcksIn + MemberDataOut + MemberAcksOut + SenderDataIn + SenderAcksIn + SenderDataOut + SenderAcksOut;

    /// <summary>The counters of every open client socket connected to <paramref name="port"/>, keyed by socket (disposed ones are skipped).</summary>
    public static Dictionary<Socket, Counters> Read(IEnumerable<Socket> sockets, int port)
    {
        var result = new Dictionary<Socket, Counters>();
        var info = new byte[InfoBytes];
        foreach (var socket in sockets)
        {
            try
            {
                if (socket.RemoteEndPoint is not IPEndPoint remote || remote.Port != port)
                {
                    continue;
                }

                if (socket.GetRawSocketOption(SolTcp, TcpInfo, info) < InfoBytes)
                {
                    continue;
                }

                result[socket] = new Counters(
                    BinaryPrimitives.ReadUInt32LittleEndian(info.AsSpan(SegsOutOffset)),
                    BinaryPrimitives.ReadUInt32LittleEndian(info.AsSpan(SegsInOffset)),
                    BinaryPrimitives.ReadUInt32LittleEndian(info.AsSpan(DataSegsInOffset)),
                    BinaryPrimitives.ReadUInt32LittleEndian(info.AsSpan(DataSegsOutOffset)));
            }
            catch (ObjectDisposedException)
            {
            }
            catch (SocketException)
            {
            }
            catch (PlatformNotSupportedException)
            {
            }
        }

        return result;
    }

    /// <summary>What the sockets in both readings counted in between, split by role.</summary>
    public static SocketSegments Between(Dictionary<Socket, Counters> before, Dictionary<Socket, Counters> after)
    {
        long mdi = 0, mai = 0, mdo = 0, mao = 0, sdi = 0, sai = 0, sdo = 0, sao = 0;
        foreach (var (socket, end) in after)
        {
            if (!before.TryGetValue(socket, out var start))
            {
                continue;
            }

            var segsOut = end.SegsOut - start.SegsOut;
            var segsIn = end.SegsIn - start.SegsIn;
            var dataIn = end.DataSegsIn - start.DataSegsIn;
            var dataOut = end.DataSegsOut - start.DataSegsOut;
            if (dataOut > 0)
            {
                sdi += dataIn;
                sai += segsIn - dataIn;
                sdo += dataOut;
                sao += segsOut - dataOut;
            }
            else
            {
                mdi += dataIn;
                mai += segsIn - dataIn;
                mdo += dataOut;
                mao += segsOut - dataOut;
            }
        }

        return new SocketSegments(mdi, mai, mdo, mao, sdi, sai, sdo, sao);
    }

    /// <summary>One socket's counters (32-bit in the kernel: a window is far shorter than their wrap).</summary>
    public readonly record struct Counters(uint SegsOut, uint SegsIn, uint DataSegsIn, uint DataSegsOut);
}
