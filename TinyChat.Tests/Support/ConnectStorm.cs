using System.Net;
using System.Net.Sockets;

namespace TinyChat.Tests.Support;

/// <summary>Clients that connect to a port and hang up as fast as they can, each on a thread of its own, until stopped.</summary>
public static class ConnectStorm
{
    /// <summary>Starts <paramref name="clients"/> of them; each ends when <paramref name="stop"/> is cancelled (or after a million connects).</summary>
    public static Task Start(int port, int clients, CancellationToken stop) => Task.WhenAll(Enumerable.Range(0, clients).Select(_ => Task.Factory.StartNew(
        () =>
        {
            for (var i = 0; i < 1_000_000 && !stop.IsCancellationRequested; i++)
            {
                try
                {
                    using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    socket.Connect(IPAddress.Loopback, port);
                }
                catch (SocketException)
                {
                }
            }
        },
        CancellationToken.None,
        TaskCreationOptions.LongRunning,
        TaskScheduler.Default)));
}
