using System.Diagnostics;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Irc;

/// <summary>A real IRC client library (Debian's python3-irc, installed by <c>make irc-deps</c>) holds a conversation.</summary>
[TestFixture]
[Category("Process")]
public sealed class PythonIrcClientTests
{
    // Two clients on one reactor: foo_user joins #default; once there, bar_user connects and joins; foo_user greets the
    // channel when bar_user arrives; bar_user answers privately; foo_user reports the answer and both quit.
    private const string Conversation = """
        import sys, irc.client
        host, port = sys.argv[1], int(sys.argv[2])
        reactor = irc.client.IRC()
        foo = reactor.server()
        bar = reactor.server()
        def log(*parts): print(*parts, flush=True)
        def foo_welcome(c, e): c.join("#default")
        def foo_join(c, e):
            nick = e.source.nick
            if nick == "foo_user":
                bar.connect(host, port, "bar", password="bar_token", username="bar", ircname="Bar")
            elif nick == "bar_user":
                log("foo saw join", nick, e.target)
                c.privmsg("#default", "hello bar, from python")
        def foo_privmsg(c, e):
            log("foo got private", e.source.nick, e.arguments[0])
            bar.quit("done"); foo.quit("done")
            sys.exit(0)
        def bar_welcome(c, e): c.join("#default")
        def bar_pubmsg(c, e):
            log("bar got", e.target, e.source.nick, e.arguments[0])
            c.privmsg(e.source.nick, "hi foo, got it")
        reactor.add_global_handler("welcome", lambda c, e: (foo_welcome if c is foo else bar_welcome)(c, e))
        reactor.add_global_handler("join", lambda c, e: foo_join(c, e) if c is foo else None)
        reactor.add_global_handler("privmsg", lambda c, e: foo_privmsg(c, e) if c is foo else None)
        reactor.add_global_handler("pubmsg", lambda c, e: bar_pubmsg(c, e) if c is bar else None)
        foo.connect(host, port, "foo", password="foo_token", username="foo", ircname="Foo")
        reactor.process_forever(timeout=0.2)
        """;

    [Test]
    public async Task Two_python3_irc_clients_talk_in_a_channel_and_privately()
    {
        if (!File.Exists("/usr/bin/python3") || !CanImportIrc())
        {
            Assert.Ignore("python3-irc is not installed (make irc-deps installs it)");
        }

        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Storage:Provider"] = "memory" });
        var endpoint = IrcTestClient.EndpointOf(server)!;
        var script = Path.Combine(server.Directory, "conversation.py");
        await File.WriteAllTextAsync(script, Conversation);
        var info = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(script);
        info.ArgumentList.Add(endpoint.Address.ToString());
        info.ArgumentList.Add(endpoint.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var python = Process.Start(info)!;
        var output = python.StandardOutput.ReadToEndAsync();
        var errors = python.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            await python.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            python.Kill(entireProcessTree: true);
            Assert.Fail($"the conversation did not finish: {await output} {await errors}");
        }

        Assert.That(python.ExitCode, Is.Zero, await errors);
        Assert.That((await output).Split('\n', StringSplitOptions.RemoveEmptyEntries), Is.EqualTo(new[]
        {
            "foo saw join bar_user #default",
            "bar got #default foo_user hello bar, from python",
            "foo got private bar_user hi foo, got it",
        }));
    }

    private static bool CanImportIrc()
    {
        using var probe = Process.Start(new ProcessStartInfo("/usr/bin/python3", "-c \"import irc.client\"") { RedirectStandardError = true })!;
        probe.WaitForExit(10_000);
        return probe.HasExited && probe.ExitCode == 0;
    }
}
