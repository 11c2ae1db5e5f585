using System.Text;
using System.Text.Json;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Irc;

/// <summary>The IRC front door (issue 13) as its users meet it, over real TCP sockets next to web clients.</summary>
[TestFixture]
public sealed class IrcStoriesTests
{
    private TestServer server = null!;

    [SetUp]
    public async Task StartServer() => server = await TestServer.StartAsync(new Dictionary<string, string>
    {
        ["Irc:AllowGuests"] = "true",
        ["Irc:ServerName"] = "irc.test",
        ["Storage:Provider"] = "memory",
    });

    [TearDown]
    public async Task StopServer() => await server.DisposeAsync();

    private static bool IsCommand(string line, string command) => line.Split(' ').Skip(line.StartsWith('@') ? 1 : 0).ElementAtOrDefault(1) == command;

    private static bool IsDiff(JsonElement f, string kind, string user) =>
        f.TryGetProperty("presence_diff", out var d) && d.GetProperty(kind).TryGetProperty(user, out _);

    [Test]
    public async Task With_my_access_token_I_am_welcomed_under_my_user_name_and_a_different_nick_is_renamed()
    {
        await using var irc = await IrcTestClient.ConnectAsync(server);
        await irc.SendAsync("PASS foo_token");
        await irc.SendAsync("NICK foo");
        await irc.SendAsync("USER foo 0 * :Foo");

        Assert.That(await irc.ExpectAsync(_ => true), Is.EqualTo(":foo!foo@127.0.0.1 NICK :foo_user"));
        Assert.That(await irc.ExpectAsync(_ => true), Does.StartWith(":irc.test 001 foo_user :Welcome"));
        var isupport = await irc.ExpectAsync(l => IsCommand(l, "005"));
        Assert.That(isupport, Does.Contain("CASEMAPPING=ascii").And.Contain("CHANTYPES=#").And.Contain("NICKLEN=32"));
        await irc.ExpectAsync(l => IsCommand(l, "251"));
        await irc.ExpectAsync(l => IsCommand(l, "422"));
    }

    [Test]
    public async Task A_wrong_token_is_answered_with_464_and_ERROR_and_the_connection_closes()
    {
        await using var irc = await IrcTestClient.ConnectAsync(server);
        await irc.SendAsync("PASS not-a-token");
        await irc.SendAsync("NICK foo_user");
        await irc.SendAsync("USER foo 0 * :Foo");

        var rest = await irc.ReadToCloseAsync();
        Assert.That(rest, Has.Some.StartsWith(":irc.test 464 foo_user"));
        Assert.That(rest[^1], Does.StartWith("ERROR :"));
        Assert.That(rest, Has.None.Matches<string>(l => IsCommand(l, "001")));
    }

    [Test]
    public async Task With_SASL_PLAIN_I_log_in_before_registering()
    {
        await using var irc = await IrcTestClient.ConnectAsync(server);
        await irc.SendAsync("CAP LS 302");
        Assert.That(await irc.ExpectAsync(l => IsCommand(l, "CAP")), Does.Contain("sasl=PLAIN").And.Contain("server-time").And.Contain("echo-message"));
        await irc.SendAsync("NICK bar_user");
        await irc.SendAsync("USER bar 0 * :Bar");
        await irc.SendAsync("CAP REQ :sasl");
        Assert.That(await irc.ExpectAsync(l => IsCommand(l, "CAP")), Does.Contain("ACK"));
        await irc.SendAsync("AUTHENTICATE PLAIN");
        Assert.That(await irc.ExpectAsync(_ => true), Is.EqualTo("AUTHENTICATE +"));
        await irc.SendAsync("AUTHENTICATE " + Convert.ToBase64String(Encoding.UTF8.GetBytes("bar_user\0bar_user\0bar_token")));
        Assert.That(await irc.ExpectAsync(_ => true), Does.Contain(" 900 bar_user "));
        Assert.That(await irc.ExpectAsync(_ => true), Does.Contain(" 903 "));
        await irc.SendAsync("CAP END");
        Assert.That(await irc.ExpectAsync(_ => true), Does.StartWith(":irc.test 001 bar_user "));
    }

    [Test]
    public async Task A_wrong_SASL_password_fails_with_904_and_I_may_try_again()
    {
        await using var irc = await IrcTestClient.ConnectAsync(server);
        await irc.SendAsync("CAP REQ :sasl");
        await irc.SendAsync("AUTHENTICATE PLAIN");
        await irc.ExpectAsync(l => l == "AUTHENTICATE +");
        await irc.SendAsync("AUTHENTICATE " + Convert.ToBase64String(Encoding.UTF8.GetBytes("\0bar_user\0wrong")));
        await irc.ExpectAsync(l => IsCommand(l, "904"));
        Assert.That((await irc.SyncAsync()).Where(l => IsCommand(l, "001")), Is.Empty);
    }

    [Test]
    public async Task As_a_guest_I_join_and_talk_and_leave_no_account_behind()
    {
        await using var web = await server.ConnectAsync("foo_token");
        await web.RequestAsync(new() { ["command"] = "join" });
        var guest = await IrcTestClient.RegisterAsync(server, "visitor");
        await guest.SendAsync("JOIN #default");
        var names = await guest.ExpectAsync(l => IsCommand(l, "353"));
        Assert.That(names, Does.Contain("foo_user").And.Contain("visitor"));
        await web.ExpectAsync(f => IsDiff(f, "joins", "visitor"));

        await guest.SendAsync("PRIVMSG #default :hello from irc");
        var said = await web.ExpectAsync(f => f.TryGetProperty("message", out _) && f.TryGetProperty("room", out _));
        Assert.That(said.GetProperty("from").GetString(), Is.EqualTo("visitor"));
        Assert.That(said.GetProperty("message").GetString(), Is.EqualTo("hello from irc"));

        await guest.SendAsync("QUIT :bye");
        Assert.That((await guest.ReadToCloseAsync())[^1], Is.EqualTo("ERROR :Quit: bye"));
        await web.ExpectAsync(f => IsDiff(f, "leaves", "visitor"));
        await guest.DisposeAsync();

        // The name is free: anyone may now register it as an account.
        Assert.That(await server.RegisterAsync("visitor"), Is.Not.Empty);
    }

    [Test]
    public async Task A_guest_cannot_take_the_nick_of_an_account_or_of_an_online_guest()
    {
        await using var first = await IrcTestClient.RegisterAsync(server, "solo");
        await using var irc = await IrcTestClient.ConnectAsync(server);
        await irc.SendAsync("NICK foo_user");
        Assert.That(await irc.ExpectAsync(_ => true), Does.StartWith(":irc.test 433 * foo_user "));
        await irc.SendAsync("NICK solo");
        Assert.That(await irc.ExpectAsync(_ => true), Does.StartWith(":irc.test 433 * solo "));
        await irc.SendAsync("NICK other");
        await irc.SendAsync("USER other 0 * :Other");
        Assert.That(await irc.ExpectAsync(_ => true), Does.StartWith(":irc.test 001 other "));
    }

    [Test]
    public async Task Web_and_IRC_users_see_each_other_join_talk_privately_part_and_quit()
    {
        var web = await server.ConnectAsync("foo_token");
        await web.RequestAsync(new() { ["command"] = "join" });
        await using var irc = await IrcTestClient.RegisterAsync(server, "bar_user", "bar_token");
        await irc.SendAsync("JOIN #default");
        Assert.That(await irc.ExpectAsync(_ => true), Is.EqualTo(":bar_user!bar_user@127.0.0.1 JOIN #default"));
        Assert.That(await irc.ExpectAsync(_ => true), Is.EqualTo(":irc.test 353 bar_user = #default :bar_user foo_user"));
        Assert.That(await irc.ExpectAsync(_ => true), Does.StartWith(":irc.test 366 bar_user #default "));
        await web.ExpectAsync(f => IsDiff(f, "joins", "bar_user"));

        await web.SendAsync(new { room = "default", message = "hi irc" });
        Assert.That(await irc.ExpectAsync(l => IsCommand(l, "PRIVMSG")), Is.EqualTo(":foo_user!foo_user@irc.test PRIVMSG #default :hi irc"));
        await web.SendAsync(new { to = "bar_user", message = "psst" });
        Assert.That(await irc.ExpectAsync(l => IsCommand(l, "PRIVMSG")), Is.EqualTo(":foo_user!foo_user@irc.test PRIVMSG bar_user :psst"));

        await irc.SendAsync("PRIVMSG foo_user :psst back");
        var reply = await web.ExpectAsync(f => f.TryGetProperty("to", out _) && f.TryGetProperty("message", out _) && f.GetProperty("from").GetString() == "bar_user");
        Assert.That(reply.GetProperty("message").GetString(), Is.EqualTo("psst back"));

        await irc.SendAsync("PART #default :later");
        Assert.That(await irc.ExpectAsync(l => IsCommand(l, "PART")), Is.EqualTo(":bar_user!bar_user@127.0.0.1 PART #default :later"));
        await web.ExpectAsync(f => IsDiff(f, "leaves", "bar_user"));

        await irc.SendAsync("JOIN #default");
        await irc.ExpectAsync(l => IsCommand(l, "366"));
        await web.DisposeAsync();
        Assert.That(await irc.ExpectAsync(l => IsCommand(l, "QUIT")), Is.EqualTo(":foo_user!foo_user@irc.test QUIT :Quit: offline"));
    }

    [Test]
    public async Task A_web_message_longer_than_an_IRC_line_arrives_as_several_PRIVMSGs_none_lost()
    {
        await using var web = await server.ConnectAsync("foo_token");
        await web.RequestAsync(new() { ["command"] = "join" });
        await using var irc = await IrcTestClient.RegisterAsync(server, "bar_user", "bar_token");
        await irc.SendAsync("JOIN #default");
        await irc.ExpectAsync(l => IsCommand(l, "366"));

        var text = string.Concat(Enumerable.Range(0, 300).Select(i => $"w{i} ")) + "é€😀end";
        await web.SendAsync(new { room = "default", message = text });
        var pieces = new StringBuilder();
        while (pieces.Length < text.Length)
        {
            var line = await irc.ExpectAsync(l => IsCommand(l, "PRIVMSG"));
            Assert.That(Encoding.UTF8.GetByteCount(line) + 2, Is.LessThanOrEqualTo(512));
            pieces.Append(line[(line.IndexOf(" :", StringComparison.Ordinal) + 2)..]);
        }

        Assert.That(pieces.ToString(), Is.EqualTo(text));
    }

    [Test]
    public async Task With_server_time_and_echo_message_I_see_my_own_message_with_its_time()
    {
        await using var irc = await IrcTestClient.ConnectAsync(server);
        await irc.SendAsync("CAP LS 302");
        await irc.SendAsync("CAP REQ :server-time echo-message");
        await irc.SendAsync("PASS bar_token");
        await irc.SendAsync("NICK bar_user");
        await irc.SendAsync("USER bar 0 * :Bar");
        await irc.SendAsync("CAP END");
        await irc.ExpectAsync(l => IsCommand(l, "422"));
        await irc.SendAsync("JOIN #default");
        await irc.SendAsync("PRIVMSG #default :echo me");
        var echo = await irc.ExpectAsync(l => IsCommand(l, "PRIVMSG"));
        Assert.That(echo, Does.Match(@"^@time=\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z;msgid=\S+ :bar_user!bar@127\.0\.0\.1 PRIVMSG #default :echo me$"));
    }

    [Test]
    public async Task Without_echo_message_my_own_message_is_not_sent_back()
    {
        await using var irc = await IrcTestClient.RegisterAsync(server, "bar_user", "bar_token");
        await irc.SendAsync("JOIN #default");
        await irc.SendAsync("PRIVMSG #default :quiet");
        Assert.That((await irc.SyncAsync()).Where(l => IsCommand(l, "PRIVMSG")), Is.Empty);
    }

    [Test]
    public async Task Mistakes_are_answered_with_the_standard_numerics_and_the_connection_stays()
    {
        await using var irc = await IrcTestClient.RegisterAsync(server, "bar_user", "bar_token");
        async Task<string> Answer(string line)
        {
            await irc.SendAsync(line);
            var replies = await irc.SyncAsync();
            Assert.That(replies, Has.Count.EqualTo(1), $"{line}: {string.Join(" | ", replies)}");
            return replies[0];
        }

        Assert.That(await Answer("FROB"), Does.StartWith(":irc.test 421 bar_user FROB "));
        Assert.That(await Answer("JOIN"), Does.StartWith(":irc.test 461 bar_user JOIN "));
        Assert.That(await Answer("PRIVMSG #nowhere :hi"), Does.StartWith(":irc.test 403 bar_user #nowhere "));
        Assert.That(await Answer("PRIVMSG nobody :hi"), Does.StartWith(":irc.test 401 bar_user nobody "));
        Assert.That(await Answer("PRIVMSG bar_user"), Does.StartWith(":irc.test 412 bar_user "));
        Assert.That(await Answer("PRIVMSG"), Does.StartWith(":irc.test 411 bar_user "));
        Assert.That(await Answer("PART #default"), Does.StartWith(":irc.test 442 bar_user #default "));
        Assert.That(await Answer("PRIVMSG #default :not joined"), Does.StartWith(":irc.test 404 bar_user #default "));
        Assert.That(await Answer("TOPIC #default"), Does.StartWith(":irc.test 442 bar_user #default "));
        Assert.That(await Answer("USER again 0 * :x"), Does.StartWith(":irc.test 462 bar_user "));
        Assert.That(await Answer("NICK other"), Does.StartWith(":irc.test 432 bar_user other "));
        Assert.That(await Answer("PING"), Does.StartWith(":irc.test 409 bar_user "));

        await irc.SendAsync("WHOIS nobody");
        Assert.That(await irc.SyncAsync(), Is.EqualTo(new[] { ":irc.test 401 bar_user nobody :No such nick/channel", ":irc.test 318 bar_user nobody :End of /WHOIS list" }));
    }

    [Test]
    public async Task Before_registering_only_registration_commands_are_accepted()
    {
        await using var irc = await IrcTestClient.ConnectAsync(server);
        await irc.SendAsync("JOIN #default");
        Assert.That(await irc.ExpectAsync(_ => true), Does.StartWith(":irc.test 451 * "));
        await irc.SendAsync("USER x 0 * :");
        Assert.That(await irc.ExpectAsync(_ => true), Does.StartWith(":irc.test 461 * USER "));
    }

    [Test]
    public async Task A_line_over_512_bytes_gets_417_and_the_connection_goes_on()
    {
        await using var irc = await IrcTestClient.RegisterAsync(server, "bar_user", "bar_token");
        await irc.SendAsync("PRIVMSG foo_user :" + new string('x', 600));
        Assert.That(await irc.SyncAsync(), Is.EqualTo(new[] { ":irc.test 417 bar_user :Input line was too long" }));

        // Far over every limit (no line end within the receive buffer): dropped up to its end, answered once.
        await irc.SendAsync("PRIVMSG foo_user :" + new string('y', 40_000));
        Assert.That(await irc.SyncAsync(), Is.EqualTo(new[] { ":irc.test 417 bar_user :Input line was too long" }));
    }

    [Test]
    public async Task Invalid_UTF8_is_replaced_and_does_not_end_the_connection()
    {
        await using var web = await server.ConnectAsync("foo_token");
        await web.RequestAsync(new() { ["command"] = "join" });
        await using var irc = await IrcTestClient.RegisterAsync(server, "bar_user", "bar_token");
        await irc.SendAsync("JOIN #default");
        await irc.SendRawAsync([.. "PRIVMSG #default :bad "u8, 0xff, 0xfe, .. " bytes\r\n"u8]);
        await irc.SyncAsync();
        var said = await web.ExpectAsync(f => f.TryGetProperty("message", out _) && f.TryGetProperty("room", out _));
        Assert.That(said.GetProperty("message").GetString(), Is.EqualTo("bad \uFFFD\uFFFD bytes"));
    }

    [Test]
    public async Task A_PONG_leaves_after_every_reply_to_earlier_commands()
    {
        await using var irc = await IrcTestClient.RegisterAsync(server, "bar_user", "bar_token");
        await irc.SendAsync("JOIN #a,#b,#c");
        await irc.SendAsync("NAMES #a");
        await irc.SendAsync("WHO #b");
        var before = await irc.SyncAsync();
        Assert.That(before.Count(l => IsCommand(l, "366")), Is.EqualTo(4));
        Assert.That(before[^1], Does.StartWith(":irc.test 315 bar_user #b "));
    }

    [Test]
    public async Task With_chathistory_and_batch_I_read_a_rooms_latest_messages_and_page_back_by_msgid()
    {
        await using var web = await server.ConnectAsync("foo_token");
        await web.RequestAsync(new() { ["command"] = "join" });
        for (var i = 1; i <= 5; i++)
        {
            await web.RequestAsync(new() { ["room"] = "default", ["message"] = $"m{i}" });
        }

        await using var irc = await IrcTestClient.ConnectAsync(server);
        await irc.SendAsync("CAP REQ :batch server-time draft/chathistory");
        await irc.SendAsync("PASS bar_token");
        await irc.SendAsync("NICK bar_user");
        await irc.SendAsync("USER bar 0 * :Bar");
        await irc.SendAsync("CAP END");
        await irc.SendAsync("JOIN #default");
        await irc.SyncAsync();

        await irc.SendAsync("CHATHISTORY LATEST #default * 2");
        var latest = await irc.SyncAsync();
        Assert.That(latest[0], Does.Match(@"^:irc\.test BATCH \+(\S+) chathistory #default$"));
        var batch = latest[0].Split(' ')[2][1..];
        Assert.That(latest.Skip(1).Take(2).Select(l => l[(l.LastIndexOf(':') + 1)..]), Is.EqualTo(new[] { "m4", "m5" }));
        Assert.That(latest[1], Does.StartWith($"@batch={batch};time="));
        Assert.That(latest[^1], Is.EqualTo($":irc.test BATCH -{batch}"));

        var msgid = latest[1].Split(';').Single(t => t.StartsWith("msgid=", StringComparison.Ordinal)).Split(' ')[0];
        await irc.SendAsync($"CHATHISTORY BEFORE #default {msgid} 10");
        var before = await irc.SyncAsync();
        Assert.That(before.Where(l => IsCommand(l, "PRIVMSG")).Select(l => l[(l.LastIndexOf(':') + 1)..]), Is.EqualTo(new[] { "m1", "m2", "m3" }));

        await irc.SendAsync("CHATHISTORY BEFORE #default timestamp=2026-01-01T00:00:00.000Z 10");
        Assert.That((await irc.SyncAsync()).Single(), Does.StartWith(":irc.test FAIL CHATHISTORY INVALID_MSGREFTYPE "));
    }

    [Test]
    public async Task A_client_that_never_registers_is_closed()
    {
        await using var quick = await TestServer.StartAsync(new Dictionary<string, string> { ["Irc:RegistrationTimeoutSeconds"] = "0.3", ["Storage:Provider"] = "memory" });
        await using var irc = await IrcTestClient.ConnectAsync(quick);
        await irc.SendAsync("NICK slow");
        Assert.That(await irc.ReadToCloseAsync(), Is.EqualTo(new[] { "ERROR :Closing link: registration timed out" }));
    }

    [Test]
    public async Task Past_the_cap_on_connections_still_registering_the_oldest_is_closed_and_a_newcomer_registers()
    {
        await using var capped = await TestServer.StartAsync(new Dictionary<string, string> { ["Irc:MaxUnregisteredConnections"] = "2", ["Storage:Provider"] = "memory" });
        await using var oldest = await IrcTestClient.ConnectAsync(capped);
        await oldest.SendAsync("NICK slow1");
        await using var second = await IrcTestClient.ConnectAsync(capped);
        await second.SendAsync("NICK slow2");
        await using var third = await IrcTestClient.ConnectAsync(capped);
        Assert.That(await oldest.ReadToCloseAsync(), Is.EqualTo(new[] { "ERROR :Closing link: too many connections waiting to register" }));

        // A newcomer pushes out the oldest still waiting and registers; once registered it no longer counts.
        await using var bar = await IrcTestClient.RegisterAsync(capped, "bar_user", "bar_token");
        Assert.That(await second.ReadToCloseAsync(), Is.EqualTo(new[] { "ERROR :Closing link: too many connections waiting to register" }));
        await using var fourth = await IrcTestClient.ConnectAsync(capped);
        Assert.That(await bar.SyncAsync(), Is.Not.Null, "the registered client is not affected");
    }
}
