using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.DependencyInjection;
using TinyChat.Protocols.Irc;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Irc;

/// <summary>A raw IRC client over TCP for tests: sends lines, collects received lines, awaits them with timeouts.</summary>
public sealed class IrcTestClient : IAsyncDisposable
{
    /// <summary>How long an expectation waits.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(10);

    private readonly TcpClient tcp;
    private readonly NetworkStream stream;
    private readonly Channel<string> lines = Channel.CreateUnbounded<string>();
    private readonly Task receiving;
    private int pings;

    private IrcTestClient(TcpClient tcp)
    {
        this.tcp = tcp;
        stream = tcp.GetStream();
        receiving = ReceiveAsync();
    }

    /// <summary>Completes when the server has closed the connection.</summary>
    public Task Closed => receiving;

    /// <summary>The IRC endpoint of a running test server.</summary>
    public static IPEndPoint? EndpointOf(TestServer server) => server.Services.GetRequiredService<IrcServer>().Endpoint;

    /// <summary>Connects to the test server's IRC port.</summary>
    public static async Task<IrcTestClient> ConnectAsync(TestServer server)
    {
        var tcp = new TcpClient();
        await tcp.ConnectAsync(EndpointOf(server) ?? throw new InvalidOperationException("IRC is not listening"));
        return new IrcTestClient(tcp);
    }

    /// <summary>Connects and registers (PASS when a token is given), then waits for the end of the welcome burst.</summary>
    public static async Task<IrcTestClient> RegisterAsync(TestServer server, string nick, string? token = null)
    {
        var client = await ConnectAsync(server);
        if (token is not null)
        {
            await client.SendAsync($"PASS {token}");
        }

        await client.SendAsync($"NICK {nick}");
        await client.SendAsync($"USER {nick} 0 * :{nick} tester");
        await client.ExpectAsync(l => l.Contains(" 422 ") || l.Contains(" 376 "));
        return client;
    }

    /// <summary>Sends one line (CR LF added).</summary>
    public Task SendAsync(string line) => SendRawAsync(Encoding.UTF8.GetBytes(line + "\r\n"));

    /// <summary>Sends bytes as they are.</summary>
    public async Task SendRawAsync(byte[] bytes) => await stream.WriteAsync(bytes);

    /// <summary>Skips lines until one matches; fails after the timeout or when the connection closes first.</summary>
    public async Task<string> ExpectAsync(Func<string, bool> match, TimeSpan? timeout = null)
    {
        using var cts = new CancellationTokenSource(timeout ?? DefaultTimeout);
        try
        {
            while (true)
            {
                var line = await lines.Reader.ReadAsync(cts.Token);
                if (match(line))
                {
                    return line;
                }
            }
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException("no matching IRC line arrived in time");
        }
        catch (ChannelClosedException)
        {
            throw new InvalidOperationException("the connection closed before a matching line arrived");
        }
    }

    /// <summary>Sends a PING and returns every line received before its PONG (the replies to earlier commands).</summary>
    public async Task<List<string>> SyncAsync()
    {
        var token = $"sync{Interlocked.Increment(ref pings)}";
        await SendAsync($"PING {token}");
        var before = new List<string>();
        await ExpectAsync(line =>
        {
            if (line.Contains(" PONG ") && line.EndsWith(token, StringComparison.Ordinal))
            {
                return true;
            }

            before.Add(line);
            return false;
        });
        return before;
    }

    /// <summary>Awaits the server's close and returns the lines received until then.</summary>
    public async Task<List<string>> ReadToCloseAsync()
    {
        await receiving.WaitAsync(DefaultTimeout);
        var rest = new List<string>();
        while (lines.Reader.TryRead(out var line))
        {
            rest.Add(line);
        }

        return rest;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        tcp.Dispose();
        try
        {
            await receiving.WaitAsync(DefaultTimeout);
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException)
        {
        }
    }

    private async Task ReceiveAsync()
    {
        try
        {
            using var reader = new StreamReader(stream, new UTF8Encoding(false), false, 4096, leaveOpen: true);
            while (await reader.ReadLineAsync() is { } line)
            {
                await lines.Writer.WriteAsync(line);
            }
        }
        catch (Exception ex) when (ex is IOException or ObjectDisposedException or SocketException)
        {
        }
        finally
        {
            lines.Writer.TryComplete();
        }
    }
}
