using Npgsql;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Admin;

/// <summary>The admin command line on a PostgreSQL store, found through the same configuration as the server's.</summary>
[Category("Postgres")]
public sealed class AdminOnPostgresTests
{
    private TempConfig config = null!;
    private string connectionString = null!;

    [SetUp]
    public async Task CreateDatabase()
    {
        connectionString = await (await PostgresServer.SharedAsync()).CreateDatabaseAsync();
        config = Postgres(connectionString);
    }

    [TearDown]
    public void RemoveConfig() => config.Dispose();

    private static TempConfig Postgres(string connectionString) => new(c =>
    {
        c["Storage"]!["Provider"] = "postgres";
        c["Storage"]!["ConnectionString"] = connectionString;
    });

    private Task<AdminRun> Run(params string[] args) => AdminRun.RunAsync([.. args, "--config", config.Path]);

    private async Task<bool> HasTablesAsync()
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()", connection);
        return (long)(await command.ExecuteScalarAsync())! > 0;
    }

    [Test]
    public async Task Users_add_creates_the_schema_and_the_account_and_list_shows_it()
    {
        var added = await Run("users", "add", "alice");
        var list = await Run("users", "list");

        Assert.That(added.ExitCode, Is.Zero, added.ToString());
        Assert.That(added.Lines.Single(), Does.Match("^[A-Za-z0-9_-]{43}$"));
        Assert.That(list.ExitCode, Is.Zero, list.ToString());
        Assert.That(list.Lines[1], Does.Match(@"^alice\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+0$"));
    }

    [TestCase("users list")]
    [TestCase("rooms list")]
    [TestCase("users reset-token x")]
    public async Task A_command_on_a_database_no_server_has_used_fails_with_exit_1_and_creates_nothing(string args)
    {
        var run = await Run(args.Split(' '));

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error.Trim(), Does.Match(@"^tinychat: the database 127\.0\.0\.1:\d+/\S+ holds no TinyChat tables \(a server creates them on its first start; check Storage:ConnectionString\)$"));
        Assert.That(await HasTablesAsync(), Is.False);
    }

    [TestCase("backup copy.db", "back a PostgreSQL store up with pg_dump")]
    [TestCase("check", "PostgreSQL checks its own pages")]
    public async Task File_commands_say_what_to_use_instead(string args, string expected)
    {
        Assert.That((await Run("users", "add", "alice")).ExitCode, Is.Zero);

        var run = await Run(args.Split(' '));

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error.Trim(), Does.StartWith("tinychat: ").And.EndWith(expected));
    }

    [Test]
    public async Task A_database_that_cannot_be_reached_fails_with_exit_1_and_one_line_naming_it_but_no_password()
    {
        using var nowhere = Postgres($"Host=127.0.0.1;Port={ServerProcess.FreePort()};Database=gone;Username=tinychat;Password=hunter2;Timeout=3");

        var run = await AdminRun.RunAsync("users", "list", "--config", nowhere.Path);

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error.Trim().Split('\n'), Has.Length.EqualTo(1));
        Assert.That(run.Error, Does.Contain("the database 127.0.0.1:").And.Contain("/gone cannot be used"));
        Assert.That(run.Error, Does.Not.Contain("hunter2"));
    }
}
