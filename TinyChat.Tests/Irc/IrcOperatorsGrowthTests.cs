using Microsoft.Extensions.DependencyInjection;
using TinyChat.Chat;
using TinyChat.Protocols.Irc;
using TinyChat.Runtime;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Irc;

/// <summary>
/// The IRC door's operator bookkeeping keeps a room only while an IRC connection shows its channel (make growth):
/// parting, quitting and dropping the connection all let it go, and the @ of a room's owner still shows.
/// </summary>
[TestFixture]
public sealed class IrcOperatorsGrowthTests
{
    private TestServer server = null!;

    [SetUp]
    public async Task StartServer() => server = await TestServer.StartAsync(new Dictionary<string, string>
    {
        ["Irc:ServerName"] = "irc.test",
        ["Limits:RegistrationsPerMinutePerAddress"] = "1000",
        ["Limits:MaxRoomsCreatedPerUser"] = "100",
    });

    [TearDown]
    public async Task StopServer() => await server.DisposeAsync();

    private IrcChannelOperators Operators => server.Services.GetRequiredService<IrcFrontDoor>().Operators;

    private static bool IsCommand(string line, string command) => line.Split(' ').Skip(line.StartsWith('@') ? 1 : 0).ElementAtOrDefault(1) == command;

    private async Task WaitForRoomsKeptAsync(int rooms)
    {
        using var limit = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (Operators.RoomsKept != rooms)
        {
            await Task.Delay(20, limit.Token);
        }
    }

    [Test]
    public async Task Rooms_are_forgotten_once_no_irc_connection_shows_them_and_the_owner_keeps_the_at()
    {
        var token = await server.RegisterAsync("boss");
        var boss = await IrcTestClient.RegisterAsync(server, "boss", token);
        var bar = await IrcTestClient.RegisterAsync(server, "bar_user", "bar_token");
        for (var i = 0; i < 10; i++)
        {
            await boss.SendAsync($"JOIN #room{i}");
            await boss.ExpectAsync(l => IsCommand(l, "366"));
        }

        await bar.SendAsync("JOIN #room0");
        var names = await bar.ExpectAsync(l => IsCommand(l, "353"));
        Assert.That(names, Does.Contain("@boss"), "the owner shows as operator");
        await bar.ExpectAsync(l => IsCommand(l, "366"));
        Assert.That(Operators.RoomsKept, Is.EqualTo(10));

        for (var i = 1; i < 5; i++)
        {
            await boss.SendAsync($"PART #room{i}");
        }

        await boss.SyncAsync();
        Assert.That(Operators.RoomsKept, Is.EqualTo(6), "parted channels are let go at once");

        await boss.SendAsync("QUIT :bye");
        await boss.ReadToCloseAsync();
        await boss.DisposeAsync();

        // The client sees the close before the server's side of the connection has ended and let its rooms go.
        await WaitForRoomsKeptAsync(1);
        await bar.SyncAsync();
        Assert.That(Operators.RoomsKept, Is.EqualTo(1), "#room0 is still shown by bar");

        // Dropped without QUIT: the closing connection lets go too.
        await bar.DisposeAsync();
        await WaitForRoomsKeptAsync(0);
    }

    [Test]
    public void A_room_described_while_no_connection_shows_it_is_forgotten_by_the_idle_sweep()
    {
        var operators = new IrcChannelOperators();
        operators.Describe(new RoomDetails("ops", false, null, "boss", ["mod"], RoomRole.Member), ownerHasAccount: true);
        operators.Shown("lobby");
        operators.Describe(new RoomDetails("lobby", false, null, "boss", [], RoomRole.Member), ownerHasAccount: true);
        operators.Opened("lobby", "early");
        Assert.That(operators.RoomsKept, Is.EqualTo(2));

        Assert.That(operators.ForgetIdle(), Is.EqualTo(1));

        Assert.That((operators.IsOperator("ops", "mod"), operators.IsOperator("lobby", "boss")), Is.EqualTo((false, true)), "a shown channel keeps its operators");
        operators.Hidden("lobby");
        Assert.That(operators.RoomsKept, Is.Zero);
    }

    [Test]
    public void The_idle_sweep_asks_the_irc_door()
    {
        Assert.That(server.Services.GetServices<IForgetsIdle>(), Does.Contain(Operators));
    }
}
