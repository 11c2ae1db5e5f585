using System.Net;

namespace TinyChat.Tests.Support;

/// <summary>A plain <see cref="HttpListener"/> on a free loopback port, for tests of what the runtime's listener keeps.</summary>
public static class BareListener
{
    // FreePort gives the port back before the listener takes it, so another test may take it first: try another.
    public static HttpListener Start(out Uri uri)
    {
        for (var attempt = 1; ; attempt++)
        {
            var port = ServerProcess.FreePort();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                uri = new Uri($"http://127.0.0.1:{port}/");
                return listener;
            }
            catch (HttpListenerException) when (attempt < 5)
            {
                listener.Close();
            }
        }
    }
}
