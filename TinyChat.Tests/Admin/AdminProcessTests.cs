using System.Diagnostics;
using System.Net.WebSockets;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Admin;

/// <summary>The admin commands as an operator runs them: the real binary, beside a real server process on the same file.</summary>
[Category("Process")]
public sealed class AdminProcessTests
{
    [Test]
    public async Task Beside_a_running_server_users_add_connects_at_once_and_reset_token_closes_the_old_session()
    {
        using var config = new TempConfig();
        var data = Path.Combine(config.Directory, "data");
        var port = ServerProcess.FreePort();
        await using var server = await ServerProcess.StartAsync(config.Path, port, "--data", data);

        var added = await RunBinaryAsync("users", "add", "dave", "--config", config.Path, "--data", data);
        Assert.That(added.ExitCode, Is.Zero, added.ToString());
        var token = added.Lines.Single();

        await using var dave = await ChatSocket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/chat?access_token={token}"));
        Assert.That((await dave.RequestAsync(Frame(("command", "whoami")))).GetProperty("username").GetString(), Is.EqualTo("dave"));

        var reset = await RunBinaryAsync("users", "reset-token", "dave", "--config", config.Path, "--data", data);
        Assert.That(reset.ExitCode, Is.Zero, reset.ToString());
        await dave.WaitClosedAsync();
        Assert.That(dave.CloseStatus, Is.EqualTo(WebSocketCloseStatus.PolicyViolation));
        Assert.That(dave.CloseDescription, Is.EqualTo("access token reset by an administrator"));

        var list = await RunBinaryAsync("users", "list", "--config", config.Path, "--data", data);
        Assert.That(list.Lines.Skip(1).Select(l => l.Split(' ')[0]), Is.EquivalentTo(new[] { "bar_user", "dave", "foo_user" }));
        Assert.That(server.Output, Does.Contain("Applying administrator change TokenReset to dave"));
    }

    [Test]
    public async Task The_binary_exits_2_on_a_bad_command_line_and_1_on_a_failure_with_one_line_each()
    {
        using var config = new TempConfig();
        var usage = await RunBinaryAsync("users", "add");
        var failed = await RunBinaryAsync("users", "list", "--config", config.Path, "--data", Path.Combine(config.Directory, "nowhere"));

        Assert.That(usage.ExitCode, Is.EqualTo(2), usage.ToString());
        Assert.That(usage.Error.Trim().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(failed.ExitCode, Is.EqualTo(1), failed.ToString());
        Assert.That(failed.Error.Trim(), Does.StartWith("tinychat: no database at "));
        Assert.That(failed.Error.Trim().Split('\n'), Has.Length.EqualTo(1));
    }

    private static async Task<AdminRun> RunBinaryAsync(params string[] args)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add(ServerProcess.ServerDll);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        return new AdminRun(process.ExitCode, await output, await error);
    }
}
