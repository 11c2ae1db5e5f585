using System.Text.Json;
using TinyChat.Tests.HttpApi;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Irc;

/// <summary>
/// Rooms, roles and moderation over IRC (docs/irc.md): TOPIC, KICK, INVITE, MODE +o/+b/+q, +i for private rooms,
/// REDACT, and the standard numerics for every refusal, each shown to change nothing.
/// </summary>
[TestFixture]
public sealed class IrcModerationTests
{
    private TestServer server = null!;

    [SetUp]
    public async Task StartServer() => server = await TestServer.StartAsync(new Dictionary<string, string>
    {
        ["Irc:ServerName"] = "irc.test",
        ["Limits:RegistrationsPerMinutePerAddress"] = "1000",
    });

    [TearDown]
    public async Task StopServer() => await server.DisposeAsync();

    private static bool IsCommand(string line, string command) => line.Split(' ').Skip(line.StartsWith('@') ? 1 : 0).ElementAtOrDefault(1) == command;

    // The one reply a command gets (everything before the PONG of a PING sent after it).
    private static async Task<string> AnswerAsync(IrcTestClient irc, string line)
    {
        await irc.SendAsync(line);
        var replies = await irc.SyncAsync();
        Assert.That(replies, Has.Count.EqualTo(1), $"{line}: {string.Join(" | ", replies)}");
        return replies[0];
    }

    private static async Task<string> NamesAsync(IrcTestClient irc, string channel)
    {
        await irc.SendAsync($"NAMES {channel}");
        return string.Join(" ", (await irc.SyncAsync()).Where(l => IsCommand(l, "353")).Select(l => l[(l.LastIndexOf(':') + 1)..]));
    }

    private async Task<(IrcTestClient Client, string Token)> UserAsync(string nick)
    {
        var token = await server.RegisterAsync(nick);
        return (await IrcTestClient.RegisterAsync(server, nick, token), token);
    }

    [Test]
    public async Task Owners_set_the_topic_kick_mute_and_ban_while_a_member_is_refused_482_and_changes_nothing()
    {
        var (boss, _) = await UserAsync("boss");
        await using var _boss = boss;
        await using var bar = await IrcTestClient.RegisterAsync(server, "bar_user", "bar_token");
        var (carol, _) = await UserAsync("carol");
        await using var _carol = carol;

        await boss.SendAsync("JOIN #ops");
        await boss.ExpectAsync(l => IsCommand(l, "366"));
        await bar.SendAsync("JOIN #ops");
        await bar.ExpectAsync(l => IsCommand(l, "366"));
        await carol.SendAsync("JOIN #ops");
        await carol.ExpectAsync(l => IsCommand(l, "366"));

        // Announced on the room's presence tick, so before anything below is asked.
        await bar.ExpectAsync(l => IsCommand(l, "JOIN") && l.StartsWith(":carol!", StringComparison.Ordinal));
        Assert.That((await NamesAsync(bar, "#ops")).Split(' '), Is.EquivalentTo(new[] { "@boss", "bar_user", "carol" }), "the creator owns the room");

        // A member: every action refused with 482, nothing changes.
        Assert.That(await AnswerAsync(bar, "TOPIC #ops :mine now"), Does.StartWith(":irc.test 482 bar_user #ops "));
        Assert.That(await AnswerAsync(bar, "TOPIC #ops"), Does.StartWith(":irc.test 331 bar_user #ops "));
        Assert.That(await AnswerAsync(bar, "KICK #ops carol"), Does.StartWith(":irc.test 482 bar_user #ops "));
        Assert.That(await AnswerAsync(bar, "MODE #ops +b carol"), Does.StartWith(":irc.test 482 bar_user #ops "));
        Assert.That(await AnswerAsync(bar, "MODE #ops +o bar_user"), Does.StartWith(":irc.test 482 bar_user #ops "));
        Assert.That((await NamesAsync(bar, "#ops")).Split(' '), Is.EquivalentTo(new[] { "@boss", "bar_user", "carol" }));
        Assert.That((await carol.SyncAsync()).Where(l => IsCommand(l, "KICK") || IsCommand(l, "MODE") || IsCommand(l, "TOPIC")), Is.Empty);

        // The owner: each change reaches the members as the IRC line for it.
        await boss.SendAsync("TOPIC #ops :ship it");
        Assert.That(await carol.ExpectAsync(l => IsCommand(l, "TOPIC")), Does.StartWith(":boss!").And.EndWith(" TOPIC #ops :ship it"));
        await bar.ExpectAsync(l => IsCommand(l, "TOPIC"));
        Assert.That(await AnswerAsync(bar, "TOPIC #ops"), Is.EqualTo(":irc.test 332 bar_user #ops :ship it"));
        await boss.SendAsync("MODE #ops +o bar_user");
        Assert.That(await carol.ExpectAsync(l => IsCommand(l, "MODE")), Does.EndWith(" MODE #ops +o bar_user"));
        Assert.That((await NamesAsync(carol, "#ops")).Split(' '), Is.EquivalentTo(new[] { "@boss", "@bar_user", "carol" }));

        await boss.SyncAsync();
        Assert.That(await AnswerAsync(boss, "KICK #ops nobody_at_all"), Does.StartWith(":irc.test 401 boss nobody_at_all "));
        await server.RegisterAsync("dave");
        Assert.That(await AnswerAsync(boss, "KICK #ops dave"), Does.StartWith(":irc.test 441 boss dave #ops "));
        Assert.That(await AnswerAsync(boss, "MODE #ops +x carol"), Does.StartWith(":irc.test 472 boss x "));

        await bar.SendAsync("MODE #ops +q carol");
        Assert.That(await carol.ExpectAsync(l => IsCommand(l, "MODE")), Does.EndWith(" MODE #ops +q carol!*@*"));
        Assert.That(await AnswerAsync(carol, "PRIVMSG #ops :let me talk"), Does.StartWith(":irc.test 404 carol #ops "));
        Assert.That((await bar.SyncAsync()).Where(l => IsCommand(l, "PRIVMSG")), Is.Empty, "a muted message reaches nobody");
        await bar.SendAsync("MODE #ops -q carol");
        await carol.ExpectAsync(l => IsCommand(l, "MODE") && l.EndsWith("-q carol!*@*", StringComparison.Ordinal));

        await bar.SendAsync("MODE #ops +b carol");
        Assert.That(await carol.ExpectAsync(l => IsCommand(l, "MODE")), Does.EndWith(" MODE #ops +b carol!*@*"));
        await carol.ExpectAsync(l => IsCommand(l, "PART") && l.StartsWith(":carol!", StringComparison.Ordinal));
        Assert.That(await AnswerAsync(carol, "JOIN #ops"), Does.StartWith(":irc.test 474 carol #ops "));
        await bar.SendAsync("MODE #ops -b carol");
        await bar.ExpectAsync(l => IsCommand(l, "MODE") && l.EndsWith("-b carol!*@*", StringComparison.Ordinal));
        await carol.SendAsync("JOIN #ops");
        await carol.ExpectAsync(l => IsCommand(l, "366"));

        await boss.SendAsync("KICK #ops carol :bye");
        Assert.That(await carol.ExpectAsync(l => IsCommand(l, "KICK")), Does.StartWith(":boss!").And.Contain(" KICK #ops carol "));
    }

    [Test]
    public async Task A_private_room_is_plus_i_joined_only_after_an_INVITE_which_the_invited_user_sees()
    {
        var (boss, bossToken) = await UserAsync("boss");
        await using var _boss = boss;
        await using var bar = await IrcTestClient.RegisterAsync(server, "bar_user", "bar_token");
        var (created, _, _) = await Api.SendAsync(server.Http, HttpMethod.Post, "/api/rooms", bossToken, JsonSerializer.Serialize(new { room = "hush", @private = true }));
        Assert.That(created, Is.EqualTo(201));
        await boss.SendAsync("JOIN #hush");
        await boss.ExpectAsync(l => IsCommand(l, "366"));
        Assert.That(await AnswerAsync(boss, "MODE #hush"), Is.EqualTo(":irc.test 324 boss #hush :+i"));

        Assert.That(await AnswerAsync(bar, "JOIN #hush"), Does.StartWith(":irc.test 473 bar_user #hush "));
        Assert.That(await AnswerAsync(bar, "INVITE bar_user #hush"), Does.StartWith(":irc.test 442 bar_user #hush "));
        Assert.That(await AnswerAsync(boss, "INVITE nobody_at_all #hush"), Does.StartWith(":irc.test 401 boss nobody_at_all "));
        Assert.That(await AnswerAsync(boss, "INVITE bar_user #nowhere"), Does.StartWith(":irc.test 403 boss #nowhere "));
        Assert.That(await AnswerAsync(bar, "JOIN #hush"), Does.StartWith(":irc.test 473 bar_user #hush "), "the refusals invited nobody");

        await boss.SendAsync("INVITE bar_user #hush");
        Assert.That(await boss.SyncAsync(), Is.EquivalentTo(new[] { ":boss!boss@127.0.0.1 NOTICE #hush :boss invited bar_user", ":irc.test 341 boss bar_user :#hush" }));
        Assert.That(await bar.ExpectAsync(l => IsCommand(l, "INVITE")), Does.StartWith(":boss!").And.EndWith(" INVITE bar_user :#hush"));
        await bar.SendAsync("JOIN #hush");
        await bar.ExpectAsync(l => IsCommand(l, "366"));
        await boss.ExpectAsync(l => IsCommand(l, "JOIN") && l.StartsWith(":bar_user!", StringComparison.Ordinal));
        Assert.That(await AnswerAsync(boss, "INVITE bar_user #hush"), Does.StartWith(":irc.test 443 boss bar_user #hush "));
    }

    [Test]
    public async Task REDACT_deletes_a_message_for_clients_that_negotiated_it_and_others_get_a_NOTICE()
    {
        var (boss, _) = await UserAsync("boss");
        await using var _boss = boss;
        await using var bar = await IrcTestClient.ConnectAsync(server);
        await bar.SendAsync("CAP LS 302");
        await bar.SendAsync("PASS bar_token");
        await bar.SendAsync("NICK bar_user");
        await bar.SendAsync("USER bar 0 * :Bar");
        await bar.SendAsync("CAP REQ :draft/message-redaction message-tags");
        Assert.That(await bar.ExpectAsync(l => IsCommand(l, "CAP") && l.Contains(" ACK ")), Does.Contain("draft/message-redaction"));
        await bar.SendAsync("CAP END");
        await bar.ExpectAsync(l => IsCommand(l, "422") || IsCommand(l, "376"));
        var (carol, _) = await UserAsync("carol");
        await using var _carol = carol;
        foreach (var member in new[] { boss, bar, carol })
        {
            await member.SendAsync("JOIN #news");
            await member.ExpectAsync(l => IsCommand(l, "366"));
        }

        // Later joiners are announced on the room's presence tick: wait for the last one, so no JOIN line arrives
        // inside an answer's window below.
        await boss.ExpectAsync(l => IsCommand(l, "JOIN") && l.StartsWith(":carol!", StringComparison.Ordinal));
        await bar.ExpectAsync(l => IsCommand(l, "JOIN") && l.StartsWith(":carol!", StringComparison.Ordinal));

        await carol.SendAsync("PRIVMSG #news :buy cheap watches");
        var spam = await bar.ExpectAsync(l => IsCommand(l, "PRIVMSG"));
        await boss.ExpectAsync(l => IsCommand(l, "PRIVMSG"));
        foreach (var member in new[] { boss, bar, carol })
        {
            await member.SyncAsync();
        }

        var msgid = spam.Split(';', ' ').Single(t => t.StartsWith("msgid=", StringComparison.Ordinal))["msgid=".Length..];

        Assert.That(await AnswerAsync(bar, $"REDACT #news {msgid}"), Does.StartWith($":irc.test FAIL REDACT REDACT_FORBIDDEN #news {msgid} "));
        Assert.That(await AnswerAsync(boss, "REDACT #news news:999999"), Does.StartWith(":irc.test FAIL REDACT UNKNOWN_MSGID #news news:999999 "));
        Assert.That(await AnswerAsync(boss, "REDACT #news other:1"), Does.StartWith(":irc.test FAIL REDACT UNKNOWN_MSGID #news other:1 "));
        Assert.That((await carol.SyncAsync()).Where(l => l.Contains("deleted", StringComparison.Ordinal)), Is.Empty, "refused redactions delete nothing");

        await boss.SendAsync($"REDACT #news {msgid}");
        Assert.That(await bar.ExpectAsync(l => IsCommand(l, "REDACT")), Does.Contain(":boss!").And.EndWith($" REDACT #news {msgid}"));
        Assert.That(await carol.ExpectAsync(l => IsCommand(l, "NOTICE")), Does.EndWith($"boss deleted message {msgid["news:".Length..]}"));
        await boss.ExpectAsync(l => IsCommand(l, "NOTICE"));
        Assert.That(await AnswerAsync(boss, $"REDACT #news {msgid}"), Does.StartWith($":irc.test FAIL REDACT UNKNOWN_MSGID #news {msgid} "), "already deleted");
    }
}
