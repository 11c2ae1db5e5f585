using Microsoft.Data.Sqlite;
using TinyChat.Storage;
using TinyChat.Storage.Sqlite;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Admin;

/// <summary>Every admin command against a real SQLite file, found through the same --config/--data as the server's.</summary>
public sealed class AdminCommandLineTests
{
    private TempConfig config = null!;

    private string Data => Path.Combine(config.Directory, "data");

    private string DatabasePath => Path.Combine(Data, SqliteStoreSettings.FileName);

    [SetUp]
    public void CreateConfig() => config = new TempConfig();

    [TearDown]
    public void RemoveConfig()
    {
        SqliteConnection.ClearAllPools();
        config.Dispose();
    }

    private Task<AdminRun> Run(params string[] args) => AdminRun.RunAsync([.. args, "--config", config.Path, "--data", Data]);

    [Test]
    public async Task Users_add_creates_the_database_and_prints_a_token_that_signs_the_user_in()
    {
        var added = await Run("users", "add", "alice");

        Assert.That(added.ExitCode, Is.Zero, added.ToString());
        Assert.That(added.Lines, Has.Length.EqualTo(1));
        var token = added.Lines[0];
        Assert.That(token, Does.Match("^[A-Za-z0-9_-]{43}$"));

        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Storage:DataDirectory"] = Data });
        await using var alice = await server.ConnectAsync(token);
        var me = await alice.RequestAsync(new Dictionary<string, object?> { ["command"] = "whoami" });
        Assert.That(me.GetProperty("username").GetString(), Is.EqualTo("alice"));
    }

    [Test]
    public async Task Users_list_shows_every_account_with_its_rooms_and_a_taken_or_bad_name_fails_with_exit_1()
    {
        Assert.That((await Run("users", "add", "alice")).ExitCode, Is.Zero);
        Assert.That((await Run("users", "add", "bob")).ExitCode, Is.Zero);
        await ExecuteAsync("INSERT INTO rooms (name, created_at_ms) VALUES ('lobby', 0); INSERT INTO memberships VALUES ((SELECT id FROM rooms WHERE name = 'lobby'), 'bob')");

        var taken = await Run("users", "add", "alice");
        var bad = await Run("users", "add", "no spaces");
        var list = await Run("users", "list");

        Assert.That(taken.ExitCode, Is.EqualTo(1));
        Assert.That(taken.Error.Trim(), Is.EqualTo("tinychat: user alice exists already (reset its token with: tinychat users reset-token alice)"));
        Assert.That(bad.ExitCode, Is.EqualTo(1));
        Assert.That(bad.Error, Does.Contain("user name may contain only"));
        Assert.That(list.ExitCode, Is.Zero, list.ToString());
        Assert.That(list.Lines[0], Does.Match(@"^USER\s+CREATED\s+ROOMS$"));
        Assert.That(list.Lines[1], Does.Match(@"^alice\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\s+0$"));
        Assert.That(list.Lines[2], Does.Match(@"^bob\s+.*Z\s+1$"));
        Assert.That(list.Lines, Has.Length.EqualTo(3));
    }

    [Test]
    public async Task Reset_token_replaces_the_token_and_records_the_change_for_running_servers()
    {
        var old = (await Run("users", "add", "alice")).Lines[0];

        var reset = await Run("users", "reset-token", "alice");
        var missing = await Run("users", "reset-token", "nobody");

        Assert.That(reset.ExitCode, Is.Zero, reset.ToString());
        var token = reset.Lines.Single();
        Assert.That(token, Is.Not.EqualTo(old));
        Assert.That(missing.ExitCode, Is.EqualTo(1));
        Assert.That(missing.Error.Trim(), Is.EqualTo("tinychat: no user nobody"));
        var store = new SqliteAdminStore(DatabasePath, TimeProvider.System);
        var changes = await store.ChangesAfterAsync(0, 10, CancellationToken.None);
        Assert.That(changes.Select(c => (c.Kind, c.Name)), Is.EqualTo(new[] { (TinyChat.Chat.AdminChangeKind.TokenReset, "alice") }));
        Assert.That(await ScalarAsync("SELECT count(*) FROM accounts WHERE token_hash = $hash", TokenHash.Of(token)), Is.EqualTo(1));
        Assert.That(await ScalarAsync("SELECT count(*) FROM accounts WHERE token_hash = $hash", TokenHash.Of(old)), Is.Zero);
    }

    [Test]
    public async Task Users_delete_removes_the_account_and_its_memberships_but_keeps_its_messages()
    {
        Assert.That((await Run("users", "add", "alice")).ExitCode, Is.Zero);
        await ExecuteAsync(
            """
            INSERT INTO rooms (name, last_seq, created_at_ms) VALUES ('lobby', 1, 0);
            INSERT INTO memberships VALUES ((SELECT id FROM rooms WHERE name = 'lobby'), 'alice');
            INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms) VALUES ((SELECT id FROM rooms WHERE name = 'lobby'), 1, 'alice', 'hi', 0);
            """);

        var deleted = await Run("users", "delete", "alice");
        var again = await Run("users", "delete", "alice");

        Assert.That(deleted.ExitCode, Is.Zero, deleted.ToString());
        Assert.That(deleted.Output.Trim(), Is.EqualTo("deleted user alice"));
        Assert.That(again.ExitCode, Is.EqualTo(1));
        Assert.That(await ScalarAsync("SELECT count(*) FROM accounts WHERE username = 'alice'"), Is.Zero);
        Assert.That(await ScalarAsync("SELECT count(*) FROM memberships"), Is.Zero);
        Assert.That(await ScalarAsync("SELECT count(*) FROM room_messages"), Is.EqualTo(1));
    }

    [Test]
    public async Task Rooms_list_shows_members_messages_and_last_activity_and_rooms_delete_removes_everything_of_a_room()
    {
        Assert.That((await Run("users", "add", "alice")).ExitCode, Is.Zero);
        await ExecuteAsync(
            """
            INSERT INTO rooms (name, last_seq, created_at_ms) VALUES ('default', 0, 0), ('lobby', 2, 0);
            INSERT INTO memberships VALUES ((SELECT id FROM rooms WHERE name = 'lobby'), 'alice'), ((SELECT id FROM rooms WHERE name = 'lobby'), 'bob');
            INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms) VALUES
              ((SELECT id FROM rooms WHERE name = 'lobby'), 1, 'alice', 'one', 1700000000000),
              ((SELECT id FROM rooms WHERE name = 'lobby'), 2, 'bob', 'two', 1700000060000);
            """);

        var list = await Run("rooms", "list");

        Assert.That(list.ExitCode, Is.Zero, list.ToString());
        Assert.That(list.Lines, Has.Length.EqualTo(3));
        Assert.That(list.Lines[0], Does.Match(@"^ROOM\s+MEMBERS\s+MESSAGES\s+LAST ACTIVITY$"));
        Assert.That(list.Lines[1], Does.Match(@"^default\s+0\s+0\s+-$"));
        Assert.That(list.Lines[2], Does.Match(@"^lobby\s+2\s+2\s+2023-11-14 22:14:20Z$"));

        var deleted = await Run("rooms", "delete", "lobby");
        var missing = await Run("rooms", "delete", "lobby");
        var defaultRoom = await Run("rooms", "delete", "default");

        Assert.That(deleted.ExitCode, Is.Zero, deleted.ToString());
        Assert.That(deleted.Output.Trim(), Is.EqualTo("deleted room lobby"));
        Assert.That(missing.ExitCode, Is.EqualTo(1));
        Assert.That(missing.Error.Trim(), Is.EqualTo("tinychat: no room lobby"));
        Assert.That(defaultRoom.ExitCode, Is.EqualTo(1));
        Assert.That(defaultRoom.Error, Does.Contain("cannot be deleted"));
        Assert.That(await ScalarAsync("SELECT count(*) FROM room_messages"), Is.Zero);
        Assert.That(await ScalarAsync("SELECT count(*) FROM memberships"), Is.Zero);
        Assert.That(await ScalarAsync("SELECT count(*) FROM rooms WHERE name = 'lobby'"), Is.Zero);
    }

    [Test]
    public async Task Backup_writes_a_database_with_the_same_counts_and_never_overwrites()
    {
        Assert.That((await Run("users", "add", "alice")).ExitCode, Is.Zero);
        await ExecuteAsync(
            """
            INSERT INTO rooms (name, last_seq, created_at_ms) VALUES ('lobby', 1, 0);
            INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms) VALUES ((SELECT id FROM rooms WHERE name = 'lobby'), 1, 'alice', 'one', 0);
            INSERT INTO private_messages (sender, recipient, body, sent_at_ms) VALUES ('alice', 'bob', 'psst', 0);
            """);
        var target = Path.Combine(config.Directory, "copy.db");

        var backup = await Run("backup", target);
        var again = await Run("backup", target);

        Assert.That(backup.ExitCode, Is.Zero, backup.ToString());
        Assert.That(backup.Output, Does.Contain("accounts 1").And.Contain("room_messages 1").And.Contain("private_messages 1"));
        Assert.That(await SqliteAdminStore.CountAsync(target, CancellationToken.None), Is.EqualTo(await SqliteAdminStore.CountAsync(DatabasePath, CancellationToken.None)));
        Assert.That(await new SqliteAdminStore(target, TimeProvider.System).CheckAsync(CancellationToken.None), Is.Empty);
        Assert.That(again.ExitCode, Is.EqualTo(1));
        Assert.That(again.Error, Does.Contain("exists already"));
    }

    [Test]
    public async Task Check_says_ok_for_a_sound_file_and_lists_problems_with_exit_1()
    {
        Assert.That((await Run("users", "add", "alice")).ExitCode, Is.Zero);

        var sound = await Run("check");
        await ExecuteAsync(
            """
            INSERT INTO rooms (name, last_seq, created_at_ms) VALUES ('lobby', 1, 0);
            INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms) VALUES ((SELECT id FROM rooms WHERE name = 'lobby'), 5, 'alice', 'ahead', 0);
            """);
        var broken = await Run("check");

        Assert.That(sound.ExitCode, Is.Zero, sound.ToString());
        Assert.That(sound.Output.Trim(), Is.EqualTo($"{DatabasePath}: ok"));
        Assert.That(broken.ExitCode, Is.EqualTo(1), broken.ToString());
        Assert.That(broken.Output, Does.Contain("room lobby: last_seq 1 is below its newest message 5"));
        Assert.That(broken.Error.Trim(), Is.EqualTo($"tinychat: {DatabasePath}: 1 problem(s), listed above"));
    }

    [Test]
    public async Task Check_finds_a_file_that_is_not_a_database()
    {
        Directory.CreateDirectory(Data);
        await File.WriteAllTextAsync(DatabasePath, "this is not a database, just a text file that is long enough to have a header");

        var check = await Run("check");

        Assert.That(check.ExitCode, Is.EqualTo(1), check.ToString());
        Assert.That(check.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries), Has.Length.EqualTo(1));
        Assert.That(check.Error, Does.Contain("not a database"));
    }

    [TestCase("users list")]
    [TestCase("rooms list")]
    [TestCase("check")]
    [TestCase("users delete x")]
    public async Task A_command_on_a_missing_database_fails_with_exit_1_and_creates_nothing(string args)
    {
        var run = await Run(args.Split(' '));

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error.Trim(), Is.EqualTo($"tinychat: no database at {DatabasePath} (a server creates it on its first start; check --config and --data)"));
        Assert.That(File.Exists(DatabasePath), Is.False);
    }

    [TestCase(new[] { "users" }, "Required command was not provided. (try tinychat users --help)")]
    [TestCase(new[] { "users", "add" }, "Required argument missing for command: 'add'. (try tinychat users add --help)")]
    [TestCase(new[] { "users", "add", "a", "b" }, "Unrecognized command or argument 'b'. (try tinychat users add --help)")]
    [TestCase(new[] { "rooms", "frobnicate" }, "Unrecognized command or argument 'frobnicate'. (try tinychat rooms --help)")]
    [TestCase(new[] { "backup", "x", "--verbose" }, "Unrecognized command or argument '--verbose'. (try tinychat backup --help)")]
    [TestCase(new[] { "check", "--config" }, "Required argument missing for option: '--config'. (try tinychat check --help)")]
    public async Task A_command_line_that_does_not_parse_is_exit_2_with_one_line(string[] args, string expected)
    {
        var run = await AdminRun.RunAsync(args);

        Assert.That(run.ExitCode, Is.EqualTo(2), run.ToString());
        Assert.That(run.Error.Trim(), Is.EqualTo("tinychat: " + expected));
        Assert.That(run.Output, Is.Empty);
    }

    [TestCase("users --help", "add|list|reset-token|delete")]
    [TestCase("users add --help", "NAME|--config|--data|access token")]
    [TestCase("rooms -h", "list|delete")]
    [TestCase("backup --help", "PATH|consistent copy")]
    [TestCase("check --help", "integrity")]
    [TestCase("migrate-storage --help", "--to|CONNECTION STRING|EMPTY PostgreSQL|--config|--data")]
    public async Task Help_for_each_command_is_exit_0(string args, string expected)
    {
        var run = await AdminRun.RunAsync(args.Split(' '));

        Assert.That(run.ExitCode, Is.Zero, run.ToString());
        foreach (var text in expected.Split('|'))
        {
            Assert.That(run.Output, Does.Contain(text));
        }
    }

    [Test]
    public async Task The_memory_provider_has_nothing_to_administer()
    {
        using var memory = new TempConfig(c => c["Storage"]!["Provider"] = "memory");
        var refused = await AdminRun.RunAsync("users", "list", "--config", memory.Path);

        Assert.That(refused.ExitCode, Is.EqualTo(1), refused.ToString());
        Assert.That(refused.Error.Trim(), Is.EqualTo("tinychat: Storage:Provider is memory: nothing is kept, so there is nothing to administer"));
    }

    [Test]
    public async Task A_bad_configuration_fails_with_exit_1_and_names_the_key()
    {
        using var bad = new TempConfig(c => c["Storage"]!["Synchronous"] = "Sometimes");

        var run = await AdminRun.RunAsync("users", "list", "--config", bad.Path);

        Assert.That(run.ExitCode, Is.EqualTo(1), run.ToString());
        Assert.That(run.Error, Does.Contain("Storage:Synchronous"));
    }

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync();
    }

    private async Task<long> ScalarAsync(string sql, byte[]? hash = null)
    {
        await using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = sql;
        if (hash is not null)
        {
            command.Parameters.AddWithValue("$hash", hash);
        }

        return (long)(await command.ExecuteScalarAsync())!;
    }
}
