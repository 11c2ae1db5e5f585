using Npgsql;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Storage;

/// <summary>The PostgreSQL fixture itself: the storage and cluster tests stand on it.</summary>
[Category("Postgres")]
public sealed class PostgresServerTests
{
    [Test]
    public async Task Each_test_gets_an_empty_database_of_its_own()
    {
        var server = await PostgresServer.SharedAsync();
        var first = await server.CreateDatabaseAsync();
        var second = await server.CreateDatabaseAsync();

        Assert.That(first, Is.Not.EqualTo(second));
        await using var connection = new NpgsqlConnection(first);
        await connection.OpenAsync();
        await using var count = new NpgsqlCommand("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", connection);
        Assert.That(await count.ExecuteScalarAsync(), Is.EqualTo(0L));
    }

    [Test]
    public async Task Committed_rows_survive_a_stop_and_a_kill()
    {
        await using var server = await PostgresServer.StartAsync();
        var database = await server.CreateDatabaseAsync();
        var name = new NpgsqlConnectionStringBuilder(database).Database!;
        await server.ExecuteAsync(name, "CREATE TABLE t (v int); INSERT INTO t VALUES (1)");

        await server.StopAsync();
        Assert.ThrowsAsync<NpgsqlException>(async () => await server.ExecuteAsync(name, "INSERT INTO t VALUES (2)"));
        await server.RestartAsync();
        await server.ExecuteAsync(name, "INSERT INTO t VALUES (2)");
        await server.KillAsync();
        await server.RestartAsync();

        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var sum = new NpgsqlCommand("SELECT sum(v) FROM t", connection);
        Assert.That(await sum.ExecuteScalarAsync(), Is.EqualTo(3L));
    }
}
