using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace TinyChat.Tests.Support;

/// <summary>One frame as it came off the wire, header bits included.</summary>
public readonly record struct RawFrame(bool Final, int Opcode, byte[] Payload)
{
    /// <summary>The payload as UTF-8 text (throws on invalid UTF-8, so a torn frame cannot pass as text).</summary>
    public string Text => new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(Payload);
}

/// <summary>
/// A WebSocket client that parses the server's frames itself from the TCP stream, so a test sees every frame as sent
/// (no client library reassembling or hiding anything). Only what tests need: one upgrade, masked text frames out.
/// </summary>
public sealed class RawWebSocket : IDisposable
{
    private readonly TcpClient tcp;
    private readonly NetworkStream stream;

    private RawWebSocket(TcpClient tcp)
    {
        this.tcp = tcp;
        stream = tcp.GetStream();
    }

    /// <summary>Connects to <paramref name="baseUri"/>'s port and upgrades <paramref name="pathAndQuery"/>; throws unless answered 101.</summary>
    public static async Task<RawWebSocket> ConnectAsync(Uri baseUri, string pathAndQuery, CancellationToken cancellationToken)
    {
        var tcp = new TcpClient();
        RawWebSocket? socket = null;
        try
        {
            await tcp.ConnectAsync(IPAddress.Loopback, baseUri.Port, cancellationToken);
            socket = new RawWebSocket(tcp);
            var key = Convert.ToBase64String(RandomNumberGenerator.GetBytes(16));
            var head = $"GET {pathAndQuery} HTTP/1.1\r\nHost: {baseUri.Authority}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
                $"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n\r\n";
            await socket.stream.WriteAsync(Encoding.ASCII.GetBytes(head), cancellationToken);
            var answer = await socket.ReadHeadAsync(cancellationToken);
            if (!answer.StartsWith("HTTP/1.1 101", StringComparison.Ordinal))
            {
                throw new IOException($"upgrade refused: {answer.Split("\r\n")[0]}");
            }

            return socket;
        }
        catch
        {
            tcp.Dispose();
            throw;
        }
    }

    /// <summary>Sends one masked text frame.</summary>
    public async Task SendTextAsync(string text, CancellationToken cancellationToken)
    {
        var payload = Encoding.UTF8.GetBytes(text);
        var header = payload.Length < 126 ? 2 : 4;
        var frame = new byte[header + 4 + payload.Length];
        frame[0] = 0x81;
        if (payload.Length < 126)
        {
            frame[1] = (byte)(0x80 | payload.Length);
        }
        else
        {
            frame[1] = 0x80 | 126;
            BinaryPrimitives.WriteUInt16BigEndian(frame.AsSpan(2), checked((ushort)payload.Length));
        }

        var mask = RandomNumberGenerator.GetBytes(4);
        mask.CopyTo(frame, header);
        for (var i = 0; i < payload.Length; i++)
        {
            frame[header + 4 + i] = (byte)(payload[i] ^ mask[i % 4]);
        }

        await stream.WriteAsync(frame, cancellationToken);
    }

    /// <summary>The next frame, parsed from the bytes; a server frame must be unmasked.</summary>
    public async Task<RawFrame> ReceiveAsync(CancellationToken cancellationToken)
    {
        var start = new byte[2];
        await stream.ReadExactlyAsync(start, cancellationToken);
        if ((start[1] & 0x80) != 0)
        {
            throw new IOException("the server sent a masked frame");
        }

        long length = start[1] & 0x7F;
        if (length == 126)
        {
            var extended = new byte[2];
            await stream.ReadExactlyAsync(extended, cancellationToken);
            length = BinaryPrimitives.ReadUInt16BigEndian(extended);
        }
        else if (length == 127)
        {
            var extended = new byte[8];
            await stream.ReadExactlyAsync(extended, cancellationToken);
            length = BinaryPrimitives.ReadInt64BigEndian(extended);
        }

        var payload = new byte[checked((int)length)];
        await stream.ReadExactlyAsync(payload, cancellationToken);
        return new RawFrame((start[0] & 0x80) != 0, start[0] & 0x0F, payload);
    }

    /// <inheritdoc />
    public void Dispose() => tcp.Dispose();

    private async Task<string> ReadHeadAsync(CancellationToken cancellationToken)
    {
        // Byte by byte, so that no frame bytes after the head are read into a buffer and lost.
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 4 || head[^4] != '\r' || head[^3] != '\n' || head[^2] != '\r' || head[^1] != '\n')
        {
            await stream.ReadExactlyAsync(one, cancellationToken);
            head.Add(one[0]);
            if (head.Count > 16 * 1024)
            {
                throw new IOException("response head too long");
            }
        }

        return Encoding.ASCII.GetString(head.ToArray());
    }
}
