using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace TinyChat.Tests.Support;

/// <summary>TinyChat as a separate OS process (for signals, exit codes, kill -9 and restarts).</summary>
public sealed class ServerProcess : IAsyncDisposable
{
    private readonly Process process;
    private readonly StringBuilder output = new();
    private readonly TaskCompletionSource listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<(string Text, TaskCompletionSource Seen)> awaited = [];

    private ServerProcess(Process process, int port)
    {
        this.process = process;
        Port = port;
        BaseUri = new Uri($"http://127.0.0.1:{port}/");
    }

    /// <summary>The port it listens on.</summary>
    public int Port { get; }

    /// <summary>http://127.0.0.1:PORT/.</summary>
    public Uri BaseUri { get; }

    /// <summary>Operating-system process id.</summary>
    public int Pid => process.Id;

    /// <summary>Everything it printed so far (stdout and stderr).</summary>
    public string Output
    {
        get
        {
            lock (output)
            {
                return output.ToString();
            }
        }
    }

    /// <summary>The path of the server's entry assembly, copied next to the tests by the project reference.</summary>
    public static string ServerDll => Path.Combine(AppContext.BaseDirectory, "tinychat.dll");

    /// <summary>A TCP port free right now on 127.0.0.1.</summary>
    public static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <summary>
    /// A TCP port free right now on 127.0.0.1 and below the kernel's ephemeral range, for tests that connect to a port
    /// before anything listens there: a client given that very port as its own would connect to itself and hold it.
    /// </summary>
    public static int FreePortOutsideEphemeralRange()
    {
        const string Range = "/proc/sys/net/ipv4/ip_local_port_range";
        var ephemeralFrom = File.Exists(Range) ? int.Parse(File.ReadAllText(Range).Split('\t', ' ')[0], System.Globalization.CultureInfo.InvariantCulture) : 32768;
        for (var attempt = 0; attempt < 100; attempt++)
        {
            var port = Random.Shared.Next(Math.Max(1024, ephemeralFrom - 12000), ephemeralFrom);
            try
            {
                using var probe = new TcpListener(IPAddress.Loopback, port);
                probe.Start();
                return port;
            }
            catch (SocketException)
            {
            }
        }

        throw new InvalidOperationException("no free port below the ephemeral range");
    }

    /// <summary>Starts <c>dotnet tinychat.dll</c> with the arguments; does not wait for it to listen.</summary>
    public static ServerProcess Launch(int port, params string[] args) => Launch(port, new Dictionary<string, string>(), args);

    /// <summary>Starts <c>dotnet tinychat.dll</c> with the arguments and extra environment variables; does not wait for it to listen.</summary>
    public static ServerProcess Launch(int port, IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(ServerDll);

        // IRC on a free port too, so servers started in parallel never race for 6667.
        info.Environment["TINYCHAT__Irc__Port"] = "0";
        foreach (var (name, value) in environment)
        {
            info.Environment[name] = value;
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var server = new ServerProcess(process, port);
        process.OutputDataReceived += (_, e) => server.Append(e.Data);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return server;
    }

    /// <summary>Starts the server with a config file on 127.0.0.1:<paramref name="port"/> and waits until it listens.</summary>
    public static Task<ServerProcess> StartAsync(string configPath, int port, params string[] extra) => StartAsync(configPath, port, new Dictionary<string, string>(), extra);

    /// <summary>Starts the server with a config file and extra environment variables on 127.0.0.1:<paramref name="port"/> and waits until it listens.</summary>
    public static async Task<ServerProcess> StartAsync(string configPath, int port, IReadOnlyDictionary<string, string> environment, params string[] extra)
    {
        var server = Launch(port, environment, Arguments(configPath, port, extra));
        var started = await Task.WhenAny(server.listening.Task, server.process.WaitForExitAsync(), Task.Delay(TimeSpan.FromSeconds(30)));
        if (started != server.listening.Task)
        {
            throw new InvalidOperationException($"server did not start listening:\n{server.Output}");
        }

        return server;
    }

    /// <summary>The command line of a server on a config file and 127.0.0.1:<paramref name="port"/>.</summary>
    public static string[] Arguments(string configPath, int port, params string[] extra) =>
        ["--config", configPath, "--static", Path.Combine(AppContext.BaseDirectory, "static"), "--host", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), .. extra];

    /// <summary>Completes when the server has printed a line containing <paramref name="text"/> (or already had); fails after <paramref name="timeout"/>.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan timeout)
    {
        var seen = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (output)
        {
            if (output.ToString().Contains(text, StringComparison.Ordinal))
            {
                return;
            }

            awaited.Add((text, seen));
        }

        await seen.Task.WaitAsync(timeout);
    }

    /// <summary>Sends a signal (TERM, INT, KILL).</summary>
    public async Task SignalAsync(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, Pid.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
    }

    /// <summary>Waits for the process to exit and returns its exit code; fails after <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        await process.WaitForExitAsync().WaitAsync(timeout);
        return process.ExitCode;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
            foreach (var (text, seen) in awaited)
            {
                if (line.Contains(text, StringComparison.Ordinal))
                {
                    seen.TrySetResult();
                }
            }
        }

        if (line.Contains("TinyChat listening on", StringComparison.Ordinal))
        {
            listening.TrySetResult();
        }
    }
}
