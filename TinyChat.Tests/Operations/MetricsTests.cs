using System.Net;
using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Operations;

/// <summary>/metrics after a scripted conversation, in a server process of its own (the instruments are process-wide).</summary>
[Category("Process")]
public sealed class MetricsTests
{
    [Test]
    public async Task After_a_scripted_conversation_metrics_show_the_expected_counts_in_a_valid_prometheus_text()
    {
        using var config = new TempConfig();
        var port = ServerProcess.FreePort();
        await using var server = await ServerProcess.StartAsync(
            config.Path, port, "--data", Path.Combine(config.Directory, "data"),
            "--Limits:FramesPerSecond", "1", "--Limits:FrameBurst", "20", "--Limits:FloodDisconnectAfter", "5");
        using var http = new HttpClient { BaseAddress = server.BaseUri };
        await WaitForMetricsAsync(server);

        await using (var foo = await ChatSocket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/chat?access_token=foo_token")))
        await using (var bar = await ChatSocket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/chat?access_token=bar_token")))
        {
            await foo.RequestAsync(Frame(("command", "join")));
            await bar.RequestAsync(Frame(("command", "join")));
            for (var i = 1; i <= 3; i++)
            {
                await foo.RequestAsync(Frame(("room", "default"), ("message", $"hello {i}")));
                await bar.ExpectAsync(f => f.TryGetProperty("message", out var m) && m.GetString() == $"hello {i}");
            }

            await foo.RequestAsync(Frame(("to", "bar_user"), ("message", "psst")));
            await bar.ExpectAsync(f => f.TryGetProperty("to", out _) && f.TryGetProperty("message", out var m) && m.GetString() == "psst");

            var open = Samples(await ScrapeAsync(http));
            Assert.That(Value(open, "tinychat_connections", ("protocol", "json")), Is.EqualTo(2));
            Assert.That(Value(open, "tinychat_users_online"), Is.EqualTo(2));
            Assert.That(Value(open, "tinychat_rooms"), Is.EqualTo(1));
        }

        await using (var flooder = await ChatSocket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/chat?access_token=foo_token")))
        {
            for (var i = 0; i < 40 && flooder.Socket.State == System.Net.WebSockets.WebSocketState.Open; i++)
            {
                await flooder.SendAsync(new { command = "ping" });
            }

            await flooder.WaitClosedAsync();
            Assert.That(flooder.CloseDescription, Does.StartWith("flooding"));
        }

        var text = await ScrapeAsync(http);
        var samples = Samples(text);
        Assert.That(Value(samples, "tinychat_messages_accepted_total", ("kind", "room")), Is.EqualTo(3));
        Assert.That(Value(samples, "tinychat_messages_accepted_total", ("kind", "private")), Is.EqualTo(1));
        Assert.That(Value(samples, "tinychat_deliveries_total"), Is.EqualTo((3 * 2) + 2), "3 room messages to 2 connections, 1 private to sender and recipient");
        Assert.That(Value(samples, "tinychat_frames_rate_limited_total", ("protocol", "json")), Is.GreaterThanOrEqualTo(5));
        Assert.That(Value(samples, "tinychat_disconnects_total", ("reason", "flood")), Is.EqualTo(1));
        Assert.That(Value(samples, "tinychat_store_commit_duration_seconds_count"), Is.GreaterThanOrEqualTo(4), "3 room batches and 1 private message at least");
        Assert.That(Value(samples, "tinychat_store_commit_batch_size_count"), Is.EqualTo(Value(samples, "tinychat_store_commit_duration_seconds_count")));
        Assert.That(Value(samples, "tinychat_mailbox_depth_max"), Is.GreaterThanOrEqualTo(0), "a gauge of the moment: present");
        Assert.That(samples.Any(s => s.Name == "tinychat_process_restarts_total"), Is.False, "nothing restarted");

        // The runtime's own meter, which the soak (TinyChat.Bench soak) reads GC heap and pauses from.
        Assert.That(Value(samples, "dotnet_gc_last_collection_heap_size_bytes"), Is.GreaterThan(0));
        Assert.That(Value(samples, "dotnet_gc_pause_time_seconds_total"), Is.GreaterThanOrEqualTo(0));
        Assert.That(Value(samples, "dotnet_process_memory_working_set_bytes"), Is.GreaterThan(0));

        await AssertPromtoolAcceptsAsync(text);
    }

    [Test]
    public async Task Metrics_can_be_turned_off_or_moved_to_their_own_port()
    {
        using var config = new TempConfig();
        var port = ServerProcess.FreePort();
        await using (var off = await ServerProcess.StartAsync(config.Path, port, "--data", Path.Combine(config.Directory, "data"), "--Metrics:Enabled", "false"))
        {
            using var http = new HttpClient { BaseAddress = off.BaseUri };
            using var response = await http.GetAsync("/metrics");
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
        }

        var metricsPort = ServerProcess.FreePort();
        port = ServerProcess.FreePort();
        await using var own = await ServerProcess.StartAsync(config.Path, port, "--data", Path.Combine(config.Directory, "data"), "--Metrics:Port", metricsPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await WaitForMetricsAsync(own);
        using var client = new HttpClient();
        var text = await client.GetStringAsync($"http://127.0.0.1:{metricsPort}/metrics");
        Assert.That(Samples(text).Any(s => s.Name == "tinychat_rooms"), Is.True);
        using var main = await client.GetAsync(new Uri(own.BaseUri, "/metrics"));
        Assert.That(main.StatusCode, Is.EqualTo(HttpStatusCode.NotFound));
    }

    [Test]
    public void The_format_check_refuses_what_promtool_would()
    {
        Assert.Throws<FormatException>(() => PrometheusText.Parse("x_total 1\n"), "sample before TYPE");
        Assert.Throws<FormatException>(() => PrometheusText.Parse("# TYPE x counter\nx_total 1\nx_total 2\n"), "duplicate series");
        Assert.Throws<FormatException>(() => PrometheusText.Parse("# TYPE x gauge\nx{a=\"1\" 1\n"), "broken labels");
        Assert.Throws<FormatException>(() => PrometheusText.Parse("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_count 1\nh_sum 1\n"), "not cumulative");
        Assert.That(PrometheusText.Parse("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 3.5\n"), Has.Count.EqualTo(4));
    }

    // The scrape endpoint starts right after the HTTP server (it shares its port, known only then).
    private static Task WaitForMetricsAsync(ServerProcess server) => server.WaitForOutputAsync("Metrics at", TimeSpan.FromSeconds(20));

    private static async Task<string> ScrapeAsync(HttpClient http)
    {
        using var response = await http.GetAsync("/metrics");
        Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.OK));
        Assert.That(response.Content.Headers.ContentType?.MediaType, Is.EqualTo("text/plain"));
        return await response.Content.ReadAsStringAsync();
    }

    private static IReadOnlyList<PrometheusSample> Samples(string text) => PrometheusText.Parse(text);

    // Debian's promtool (package prometheus, installed by make test): exit 1 is a parse error, 3 a lint problem. The
    // runtime's own meter names a few gauges *_count, which promtool's linter flags; those names are .NET's, not ours,
    // so lint lines are accepted for dotnet_* metrics only.
    private static async Task AssertPromtoolAcceptsAsync(string text)
    {
        const string Promtool = "/usr/bin/promtool";
        Assert.That(File.Exists(Promtool), Is.True, "Debian's promtool is missing: make test installs it (make promtool)");
        var start = new System.Diagnostics.ProcessStartInfo(Promtool, ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var promtool = System.Diagnostics.Process.Start(start)!;
        var output = promtool.StandardOutput.ReadToEndAsync();
        var errors = promtool.StandardError.ReadToEndAsync();
        await promtool.StandardInput.WriteAsync(text);
        promtool.StandardInput.Close();
        await promtool.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        var report = (await output) + (await errors);
        Assert.That(promtool.ExitCode, Is.AnyOf(0, 3), $"promtool could not parse /metrics: {report}");
        var problems = report.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => !l.StartsWith("dotnet_", StringComparison.Ordinal)).ToList();
        Assert.That(problems, Is.Empty, "promtool's lint problems with TinyChat's own metrics");
        Assert.That(promtool.ExitCode == 0 || report.Contains("dotnet_", StringComparison.Ordinal), Is.True, report);
    }

    private static double Value(IReadOnlyList<PrometheusSample> samples, string name, params (string Key, string Value)[] labels)
    {
        var matching = samples.Where(s => s.Name == name && labels.All(l => s.Labels.TryGetValue(l.Key, out var v) && v == l.Value)).ToList();
        Assert.That(matching, Is.Not.Empty, $"no sample {name} {string.Join(",", labels)} in: {string.Join(" ", samples.Select(s => s.Name + "{" + string.Join(",", s.Labels.Select(l => l.Key + "=" + l.Value)) + "}"))}");
        return matching.Sum(s => s.Value);
    }
}
