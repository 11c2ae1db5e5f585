using Npgsql;
using TinyChat.Chat;
using TinyChat.Cluster;
using TinyChat.Storage.InMemory;
using TinyChat.Tests.Chat;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Cluster;

/// <summary>
/// Two chat cores, each with its own PostgreSQL bus on one database (the store is shared in memory): rooms deliver
/// every message once, in order, also while the <c>LISTEN</c> connection of a node is terminated again and again.
/// </summary>
[Category("Postgres")]
public sealed class ListenLossTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private PostgresServer server = null!;
    private string connectionString = null!;

    [OneTimeSetUp]
    public async Task CreateDatabase()
    {
        server = await PostgresServer.SharedAsync();
        connectionString = await server.CreateDatabaseAsync();
    }

    [Test]
    public async Task Terminating_a_nodes_listen_connection_under_traffic_leaves_no_gap_and_no_duplicate()
    {
        var store = new InMemoryStore();
        await ((IRoomStore)store).TryCreateAsync("lobby", CancellationToken.None);
        foreach (var user in new[] { "alice", "bob", "carol" })
        {
            await store.UpsertAsync(user, user + "_token", CancellationToken.None);
        }

        await using var busA = PostgresChatBus.Start(connectionString, store, TimeProvider.System);
        await using var busB = PostgresChatBus.Start(connectionString, store, TimeProvider.System);
        using (var listening = new CancellationTokenSource(Timeout))
        {
            await busA.WhenListeningAsync(listening.Token);
            await busB.WhenListeningAsync(listening.Token);
        }

        await using var a = await ChatCore.StartNodeAsync(store, busA, new InProcessPresence("a"));
        await using var b = await ChatCore.StartNodeAsync(store, busB, new InProcessPresence("b"));
        var (alice, aliceBox) = await a.ConnectAsync("alice");
        var (carol, _) = await b.ConnectAsync("carol");
        var (_, bobBox) = await b.ConnectAsync("bob");
        foreach (var client in new[] { alice, carol })
        {
            Assert.That((await client.JoinAsync("lobby", CancellationToken.None)).Error, Is.Null);
        }

        Assert.That((await (await b.ConnectAsync("bob")).Client.JoinAsync("lobby", CancellationToken.None)).Error, Is.Null);

        // Alice (node a) posts in bursts; carol (node b) now and then; b's LISTEN connection is cut between bursts.
        const int Bursts = 6;
        const int PerBurst = 50;
        var posted = 0;
        for (var burst = 0; burst < Bursts; burst++)
        {
            var sends = Enumerable.Range(0, PerBurst).Select(i => alice.SendToRoomAsync("lobby", $"a{burst}-{i}", CancellationToken.None)).ToList();
            if (burst % 2 == 1)
            {
                sends.Add(carol.SendToRoomAsync("lobby", $"c{burst}", CancellationToken.None));
            }

            Assert.That(await TerminateListenerAsync(busB), Is.EqualTo(1));
            var results = await Task.WhenAll(sends).WaitAsync(Timeout);
            Assert.That(results.Select(r => r.Error), Is.All.Null);
            posted += results.Length;
        }

        var expected = Enumerable.Range(1, posted).Select(i => (long)i).ToList();
        Assert.That(await IdsAsync(bobBox, posted), Is.EqualTo(expected), "node b: every message once, in id order");
        Assert.That(await IdsAsync(aliceBox, posted), Is.EqualTo(expected), "node a too");

        var last = await alice.SendToRoomAsync("lobby", "last", CancellationToken.None);
        Assert.That(await IdsAsync(bobBox, 1), Is.EqualTo(new[] { last.Value }), "nothing came twice before it");
    }

    private static async Task<List<long>> IdsAsync(RecordingOutbox box, int count)
    {
        var ids = new List<long>(count);
        while (ids.Count < count)
        {
            ids.Add((await box.NextAsync<RoomMessage>()).Id);
        }

        return ids;
    }

    private async Task<long> TerminateListenerAsync(PostgresChatBus node)
    {
        // Wait until the node listens again (it reconnects by itself) so each burst cuts a live connection.
        var deadline = DateTime.UtcNow + Timeout;
        while (true)
        {
            await using var connection = new NpgsqlConnection(connectionString + ";Pooling=false");
            await connection.OpenAsync();
            await using var terminate = new NpgsqlCommand(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1) AS t", connection);
            terminate.Parameters.AddWithValue(PostgresChatBus.ListenerApplicationPrefix + node.Origin);
            var killed = (long)(await terminate.ExecuteScalarAsync())!;
            if (killed > 0 || DateTime.UtcNow > deadline)
            {
                return killed;
            }

            await Task.Delay(20);
        }
    }
}
