using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using TinyChat.Chat;
using TinyChat.Hosting;
using TinyChat.Runtime;
using TinyChat.Storage.InMemory;
using TinyChat.Storage.Sqlite;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Hosting;

/// <summary>The <c>Storage</c> section: validation, provider choice, where the file goes, and refusals at start-up.</summary>
[TestFixture]
public sealed class StorageConfigurationTests
{
    private string directory = null!;

    [SetUp]
    public void CreateFolder()
    {
        directory = Path.Combine(Path.GetTempPath(), "tinychat-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
    }

    [TearDown]
    public void RemoveFolder()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    [TestCase("Storage:Provider", "mongodb")]
    [TestCase("Storage:MaxMessagesPerRoom", "-1")]
    [TestCase("Storage:MaxMessageAgeDays", "-2")]
    [TestCase("Storage:Synchronous", "sometimes")]
    [TestCase("Storage:Synchronous", "1")]
    public void An_invalid_storage_option_stops_start_up_with_one_line_naming_the_key(string key, string value)
    {
        var ex = Assert.CatchAsync(() => TestServer.StartAsync(new Dictionary<string, string> { [key] = value }));
        var problem = StartupProblem.Of(ex!);
        Assert.That(problem, Does.StartWith(key), ex!.ToString());
        Assert.That(problem, Does.Not.Contain("\n"));
    }

    [TestCase("", "is missing")]
    [TestCase("Host=db;Sauce=secret-sauce", "not a valid PostgreSQL connection string")]
    [TestCase("Database=chat;Password=hunter2", "names no Host")]
    public void A_postgres_provider_without_a_usable_connection_string_stops_start_up_naming_the_key_not_the_value(string connectionString, string why)
    {
        var ex = Assert.CatchAsync(() => TestServer.StartAsync(new Dictionary<string, string>
        {
            ["Storage:Provider"] = "postgres",
            ["Storage:ConnectionString"] = connectionString,
        }));
        var problem = StartupProblem.Of(ex!);
        Assert.That(problem, Does.StartWith("Storage:ConnectionString").And.Contain(why).And.Contain("TINYCHAT__Storage__ConnectionString"), ex!.ToString());
        Assert.That(problem, Does.Not.Contain("hunter2").And.Not.Contain("secret-sauce"));
    }

    [Test]
    public async Task A_relative_data_directory_is_under_the_configuration_files_folder()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Storage:DataDirectory"] = "store" });
        var store = server.Services.GetRequiredService<SqliteStore>();
        Assert.That(store.DatabasePath, Is.EqualTo(Path.Combine(server.Directory, "store", SqliteStoreSettings.FileName)));
        Assert.That(File.Exists(store.DatabasePath), Is.True);
        Assert.That(server.Services.GetRequiredService<IMessageStore>(), Is.SameAs(store));
    }

    [Test]
    public async Task The_memory_provider_writes_no_file()
    {
        var data = Path.Combine(directory, "data");
        await using (var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Storage:Provider"] = "memory", ["Storage:DataDirectory"] = data }))
        {
            Assert.That(server.Services.GetRequiredService<IMessageStore>(), Is.InstanceOf<InMemoryStore>());
            await server.RegisterAsync("alice");
        }

        Assert.That(Directory.Exists(data), Is.False);
    }

    [Test]
    public async Task A_data_file_with_a_newer_schema_stops_start_up_with_a_startup_exception_naming_it()
    {
        var data = Path.Combine(directory, "data");
        var overrides = new Dictionary<string, string> { ["Storage:DataDirectory"] = data };
        await using (await TestServer.StartAsync(overrides))
        {
        }

        var file = Path.Combine(data, SqliteStoreSettings.FileName);
        await using (var connection = new SqliteConnection($"Data Source={file};Pooling=False"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = "UPDATE schema_version SET version = 999";
            await command.ExecuteNonQueryAsync();
        }

        var ex = Assert.CatchAsync(() => TestServer.StartAsync(overrides));
        Assert.That(Unwrap(ex!), Is.InstanceOf<StartupException>());
        Assert.That(StartupProblem.Of(ex!), Does.Contain(file).And.Contain("schema version 999"));
    }

    [Test]
    public async Task A_corrupt_data_file_stops_start_up_and_stays_as_it_was()
    {
        var data = Path.Combine(directory, "data");
        Directory.CreateDirectory(data);
        var file = Path.Combine(data, SqliteStoreSettings.FileName);
        var garbage = new byte[8192];
        new Random(7).NextBytes(garbage);
        await File.WriteAllBytesAsync(file, garbage);

        var ex = Assert.CatchAsync(() => TestServer.StartAsync(new Dictionary<string, string> { ["Storage:DataDirectory"] = data }));
        Assert.That(Unwrap(ex!), Is.InstanceOf<StartupException>());
        Assert.That(StartupProblem.Of(ex!), Does.Contain(file).And.Contain("not a SQLite database"));
        Assert.That(await File.ReadAllBytesAsync(file), Is.EqualTo(garbage));
    }

    private static Exception Unwrap(Exception ex) => ex is AggregateException { InnerExceptions.Count: 1 } aggregate ? Unwrap(aggregate.InnerExceptions[0]) : ex;
}
