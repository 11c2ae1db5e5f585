using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace TinyChat.Bench.Client;

/// <summary>
/// Opens client TCP connections for WebSockets from a chosen loopback source address: one
/// <see cref="SocketsHttpHandler"/> per source address, whose <c>ConnectCallback</c> binds the socket first.
/// Connection <c>i</c> uses 127.0.0.1 for the first <see cref="PerAddress"/>, then 127.0.0.2, 127.0.0.3, ...,
/// so that tens of thousands of connections to one server port never run out of ephemeral ports.
/// </summary>
public sealed class Dialer : IDisposable
{
    /// <summary>Connections per source address.</summary>
    public const int PerAddress = 5000;

    // Linux: IPPROTO_IP / IP_BIND_ADDRESS_NO_PORT. Lets connect() pick the port for the whole 4-tuple,
    // so ports in TIME_WAIT from an earlier run to another destination can be reused.
    private const int SolIp = 0;
    private const int IpBindAddressNoPort = 24;

    private readonly ConcurrentDictionary<int, HttpMessageInvoker> invokers = new();
    private readonly ConcurrentDictionary<int, HttpMessageInvoker> smallBufferInvokers = new();

    // Weakly: a socket disposed with its connection is forgotten by the collector, however many a bench opens.
    private readonly ConditionalWeakTable<Socket, object?> open = new();

    /// <summary>The client sockets opened and not yet collected (for their kernel counters; some may be disposed).</summary>
    public IEnumerable<Socket> Sockets => open.Select(entry => entry.Key);

    /// <summary>The source address of connection <paramref name="index"/>.</summary>
    public static IPAddress SourceAddress(int index) => new([127, 0, 0, (byte)(1 + (index / PerAddress))]);

    /// <summary>The invoker for connection <paramref name="index"/>; <paramref name="smallReceiveBuffer"/> shrinks SO_RCVBUF (slow reader).</summary>
    public HttpMessageInvoker For(int index, bool smallReceiveBuffer = false)
    {
        var block = index / PerAddress;
        var map = smallReceiveBuffer ? smallBufferInvokers : invokers;
        return map.GetOrAdd(block, b => new HttpMessageInvoker(CreateHandler(SourceAddress(b * PerAddress), smallReceiveBuffer)));
    }

    private SocketsHttpHandler CreateHandler(IPAddress source, bool smallReceiveBuffer) => new()
    {
        UseProxy = false,
        UseCookies = false,
        ConnectTimeout = TimeSpan.FromSeconds(15),
        ConnectCallback = async (context, cancellationToken) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                if (!source.Equals(IPAddress.Loopback))
                {
                    socket.SetRawSocketOption(SolIp, IpBindAddressNoPort, BitConverter.GetBytes(1));
                    socket.Bind(new IPEndPoint(source, 0));
                }

                if (smallReceiveBuffer)
                {
                    socket.ReceiveBufferSize = 4096;
                }

                var address = IPAddress.Parse(context.DnsEndPoint.Host);
                await socket.ConnectAsync(new IPEndPoint(address, context.DnsEndPoint.Port), cancellationToken).ConfigureAwait(false);
                open.AddOrUpdate(socket, null);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        },
    };

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var invoker in invokers.Values.Concat(smallBufferInvokers.Values))
        {
            invoker.Dispose();
        }
    }
}
