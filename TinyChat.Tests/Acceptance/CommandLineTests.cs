using System.Net;
using System.Net.Sockets;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Acceptance;

/// <summary>The executable's command line as an operator meets it: help, version, and errors that say what to do.</summary>
[Category("Process")]
public sealed class CommandLineTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(15);

    [TestCase("--help")]
    [TestCase("-h")]
    public async Task Help_prints_every_option_and_exits_0_without_starting(string flag)
    {
        using var config = new TempConfig();
        await using var server = ServerProcess.Launch(0, flag, "--config", config.Path);

        Assert.That(await server.WaitForExitAsync(ExitTimeout), Is.Zero, server.Output);
        foreach (var option in new[] { "--config", "--static", "--data", "--port", "--host", "--Section:Key", "--help", "--version", "README.md" })
        {
            Assert.That(server.Output, Does.Contain(option));
        }

        Assert.That(Directory.Exists(Path.Combine(config.Directory, "data")), Is.False, "help creates no data directory");
    }

    [Test]
    public async Task Version_prints_the_version_and_exits_0()
    {
        await using var server = ServerProcess.Launch(0, "--version");

        Assert.That(await server.WaitForExitAsync(ExitTimeout), Is.Zero, server.Output);
        Assert.That(server.Output.Trim(), Does.Match(@"^tinychat \d+\.\d+"));
    }

    [TestCase(new[] { "--port" }, "--port needs a value")]
    [TestCase(new[] { "--port", "abc" }, "--port must be a whole number from 0 to 65535")]
    [TestCase(new[] { "--port", "70000" }, "--port must be a whole number from 0 to 65535")]
    [TestCase(new[] { "--frobnicate" }, "unknown option '--frobnicate'")]
    [TestCase(new[] { "--Server:Port", "abc" }, "Server:Port must be a whole number, got 'abc'")]
    [TestCase(new[] { "--static", "/nonexistent/static" }, "--static PATH")]
    [TestCase(new[] { "--Chat:Registration", "maybe" }, "Chat:Registration must be \"open\", \"invite\" or \"closed\", got \"maybe\"")]
    [TestCase(new[] { "--Limits:FailedSignInsPerMinutePerAddress", "-1" }, "Limits:FailedSignInsPerMinutePerAddress must be >= 0, got -1")]
    [TestCase(new[] { "--Presence:TickMilliseconds", "-5" }, "Presence:TickMilliseconds must be 0..10000 (0 = every change at once), got -5")]
    [TestCase(new[] { "--Presence:CountTickMilliseconds", "20000" }, "Presence:CountTickMilliseconds must be 0..10000 (0 = as Presence:TickMilliseconds), got 20000")]
    [TestCase(new[] { "--Presence:FullStateMaxMembers", "0" }, "Presence:FullStateMaxMembers must be >= 1, got 0")]
    public async Task A_bad_argument_stops_start_up_with_exit_2_and_one_line_saying_what_to_do(string[] args, string expected)
    {
        using var config = new TempConfig();
        string[] all = ["--config", config.Path, "--data", Path.Combine(config.Directory, "data"), .. args];
        await using var server = ServerProcess.Launch(0, all);

        Assert.That(await server.WaitForExitAsync(ExitTimeout), Is.EqualTo(2), server.Output);
        var lines = server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), server.Output);
        Assert.That(lines[0], Does.Contain(expected));
    }

    [Test]
    public async Task A_malformed_configuration_file_is_reported_with_its_line_and_column()
    {
        using var config = new TempConfig();
        config.Write("{\n  \"Server\": {\n    \"Port\": 4000,,\n  }\n}\n");
        await using var server = ServerProcess.Launch(0, "--config", config.Path);

        Assert.That(await server.WaitForExitAsync(ExitTimeout), Is.EqualTo(2), server.Output);
        Assert.That(server.Output, Does.Contain("line 3, column 18"));
    }

    [Test]
    public async Task A_port_in_use_is_reported_with_a_hint_to_pick_another()
    {
        using var config = new TempConfig();
        using var taken = new TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;
        await using var server = ServerProcess.Launch(port, "--config", config.Path, "--static", Path.Combine(AppContext.BaseDirectory, "static"), "--host", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--Storage:Provider", "memory");

        Assert.That(await server.WaitForExitAsync(ExitTimeout), Is.EqualTo(2), server.Output);
        Assert.That(server.Output, Does.Contain($"cannot listen on 127.0.0.1:{port}").And.Contain("--port"));
    }

    [Test]
    public async Task Data_goes_where_the_data_option_says()
    {
        using var config = new TempConfig();
        var data = Path.Combine(config.Directory, "elsewhere");
        await using var server = await ServerProcess.StartAsync(config.Path, ServerProcess.FreePort(), "--data", data);

        Assert.That(File.Exists(Path.Combine(data, "tinychat.db")), Is.True, server.Output);
        Assert.That(Directory.Exists(Path.Combine(config.Directory, "data")), Is.False);
    }
}
