using System.Net.WebSockets;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Acceptance;

/// <summary>The server as an operator runs it: a separate process, its exit codes and signals.</summary>
[TestFixture]
[Category("Process")]
public sealed class HostLifecycleTests
{
    private static readonly TimeSpan ExitTimeout = TimeSpan.FromSeconds(15);

    [Test]
    public async Task On_SIGTERM_open_websockets_get_1001_and_the_process_exits_0_within_5_seconds()
    {
        using var config = new TempConfig();
        var port = ServerProcess.FreePort();
        await using var server = await ServerProcess.StartAsync(config.Path, port);
        await using var foo = await ChatSocket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/chat?access_token=foo_token"));
        await foo.RequestAsync(new() { ["command"] = "ping" });

        var started = DateTime.UtcNow;
        await server.SignalAsync("TERM");
        await foo.WaitClosedAsync();
        Assert.That(foo.CloseStatus, Is.EqualTo(WebSocketCloseStatus.EndpointUnavailable));
        Assert.That(await server.WaitForExitAsync(ExitTimeout), Is.Zero, server.Output);
        Assert.That(DateTime.UtcNow - started, Is.LessThan(TimeSpan.FromSeconds(5)));
    }

    [Test]
    public async Task Clients_connecting_while_the_server_starts_do_not_stop_it_and_it_serves()
    {
        using var config = new TempConfig();
        var port = ServerProcess.FreePortOutsideEphemeralRange();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        // Like a readiness probe or browsers reconnecting after a restart, only more so: connect and hang up, all the time.
        var clients = ConnectStorm.Start(port, 2, stop.Token);
        try
        {
            await using var server = await ServerProcess.StartAsync(config.Path, port);
            using var http = new HttpClient { BaseAddress = server.BaseUri, Timeout = TimeSpan.FromSeconds(30) };
            using var health = await http.GetAsync("/healthz");
            Assert.That((int)health.StatusCode, Is.EqualTo(200), server.Output);
            await stop.CancelAsync();
            await clients;
            using var again = await http.GetAsync("/healthz");
            Assert.That((int)again.StatusCode, Is.EqualTo(200), server.Output);
            Assert.That(server.Output, Does.Not.Contain("Unhandled exception"));
        }
        finally
        {
            await stop.CancelAsync();
            await clients;
        }
    }

    [TestCase("\"Port\": 4000", "\"Port\": \"many\"", "Server:Port")]
    [TestCase("\"Port\": 4000", "\"Port\": 70000", "Server:Port")]
    [TestCase("\"IdleTimeoutSeconds\": 600", "\"IdleTimeoutSeconds\": -1", "WebSocket:IdleTimeoutSeconds")]
    [TestCase("\"MaxRestarts\": 10", "\"MaxRestarts\": 10, \"Bogus\": 1", "Bogus")]
    [TestCase("\"Server\": {", "\"Sever\": {}, \"Server\": {", "Sever")]
    [TestCase("{", "{{", "not valid JSON")]
    public async Task A_bad_configuration_stops_start_up_with_one_line_naming_the_key(string find, string replace, string named)
    {
        using var config = new TempConfig();
        var text = File.ReadAllText(config.Path);
        config.Write(text.Replace(find.Replace(" ", ""), replace, StringComparison.Ordinal));
        Assume.That(File.ReadAllText(config.Path), Is.Not.EqualTo(text), "the edit applied");

        await using var server = ServerProcess.Launch(0, "--config", config.Path, "--static", Path.Combine(AppContext.BaseDirectory, "static"));
        var code = await server.WaitForExitAsync(ExitTimeout);
        Assert.That(code, Is.Not.Zero, server.Output);
        var lines = server.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(lines, Has.Length.EqualTo(1), server.Output);
        Assert.That(lines[0], Does.Contain(named));
    }

    [Test]
    public async Task A_missing_configuration_file_stops_start_up()
    {
        await using var server = ServerProcess.Launch(0, "--config", "/nonexistent/chat.config.json");
        Assert.That(await server.WaitForExitAsync(ExitTimeout), Is.Not.Zero);
        Assert.That(server.Output, Does.Contain("/nonexistent/chat.config.json"));
    }
}
