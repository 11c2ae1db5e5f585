using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using TinyChat.Hosting;

namespace TinyChat.Tests.Support;

/// <summary>
/// The real server as a separate OS process (<c>dotnet tinychat.dll</c>), for restarts and crashes: stopped with
/// SIGTERM or killed with SIGKILL. Its configuration and data live in a folder the caller owns, so a second
/// process can be started on the same data.
/// </summary>
public sealed partial class ServerProcess : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);
    private readonly Process process;
    private readonly TaskCompletionSource<Uri> listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<string> output = [];

    private ServerProcess(Process process)
    {
        this.process = process;
    }

    /// <summary>http://127.0.0.1:PORT/ once started.</summary>
    public Uri BaseUri { get; private set; } = null!;

    /// <summary>Everything the process printed so far (stdout and stderr), for failure messages.</summary>
    public string Output
    {
        get
        {
            lock (output)
            {
                return string.Join("\n", output);
            }
        }
    }

    /// <summary>Writes the test configuration into <paramref name="directory"/> (data in its <c>data</c> folder).</summary>
    public static async Task<string> WriteConfigAsync(string directory)
    {
        Directory.CreateDirectory(directory);
        var config = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, TinyChatHost.ConfigFileName)))!.AsObject();

        // Only the listening line is needed: it tells the test the port and that start-up completed.
        config["Logging"] = JsonNode.Parse("""{"LogLevel":{"Default":"Warning","TinyChat.Web.HttpServer":"Information"}}""");
        var path = Path.Combine(directory, TinyChatHost.ConfigFileName);
        await File.WriteAllTextAsync(path, config.ToJsonString());
        return path;
    }

    /// <summary>Starts the server on the configuration in <paramref name="directory"/> and waits until it listens.</summary>
    public static async Task<ServerProcess> StartAsync(string directory)
    {
        var server = Launch(directory);
        var started = await Task.WhenAny(server.listening.Task, server.process.WaitForExitAsync(), Task.Delay(StartTimeout));
        if (started != server.listening.Task)
        {
            var output = server.Output;
            await server.DisposeAsync();
            throw new InvalidOperationException($"the server did not start listening:\n{output}");
        }

        server.BaseUri = await server.listening.Task;
        return server;
    }

    /// <summary>Runs the server on the configuration in <paramref name="directory"/>, expecting it to refuse to start.</summary>
    public static async Task<(int ExitCode, string Output)> RunUntilExitAsync(string directory)
    {
        await using var server = Launch(directory);
        using var timeout = new CancellationTokenSource(StartTimeout);
        await server.process.WaitForExitAsync(timeout.Token);
        return (server.process.ExitCode, server.Output);
    }

    /// <summary>Opens an authenticated WebSocket and waits until the server attached it.</summary>
    public async Task<ChatSocket> ConnectAsync(string token)
    {
        var socket = await ChatSocket.ConnectAsync(new Uri($"ws://{BaseUri.Authority}/chat?access_token={Uri.EscapeDataString(token)}"));
        await socket.RequestAsync(new Dictionary<string, object?> { ["command"] = "ping" });
        return socket;
    }

    /// <summary>Sends SIGTERM and waits for a graceful exit; returns the exit code.</summary>
    public async Task<int> TerminateAsync()
    {
        // Process.Kill sends SIGKILL; a graceful stop needs SIGTERM, which the kill command sends.
        using (var kill = Process.Start(new ProcessStartInfo("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]) { UseShellExecute = false })!)
        {
            await kill.WaitForExitAsync();
        }

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        await process.WaitForExitAsync(timeout.Token);
        return process.ExitCode;
    }

    /// <summary>SIGKILL: the process dies at once, mid-write if it was writing.</summary>
    public async Task CrashAsync()
    {
        process.Kill(entireProcessTree: false);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await process.WaitForExitAsync(timeout.Token);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
            await process.WaitForExitAsync(timeout.Token);
        }

        process.Dispose();
    }

    private static ServerProcess Launch(string directory)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in new[]
        {
            Path.Combine(AppContext.BaseDirectory, "tinychat.dll"),
            "--config", Path.Combine(directory, TinyChatHost.ConfigFileName),
            "--static", Path.Combine(AppContext.BaseDirectory, "static"),
            "--host", "127.0.0.1",
            "--port", "0",
        })
        {
            info.ArgumentList.Add(argument);
        }

        var server = new ServerProcess(new Process { StartInfo = info, EnableRaisingEvents = true });
        server.process.OutputDataReceived += (_, e) => server.Record(e.Data);
        server.process.ErrorDataReceived += (_, e) => server.Record(e.Data);
        server.process.Start();
        server.process.BeginOutputReadLine();
        server.process.BeginErrorReadLine();
        return server;
    }

    private void Record(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.Add(line);
        }

        if (ListeningLine().Match(line) is { Success: true } match)
        {
            listening.TrySetResult(new Uri(match.Groups[1].Value));
        }
    }

    [GeneratedRegex(@"listening on (http://\S+/)")]
    private static partial Regex ListeningLine();
}
