using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using TinyChat.Chat;
using TinyChat.Storage;
using TinyChat.Storage.Postgres;
using TinyChat.Storage.Sqlite;

namespace TinyChat.Hosting;

/// <summary>
/// <c>tinychat migrate-storage --to "CONNECTION STRING"</c>: copies the configured SQLite store (users with their
/// hashed tokens, rooms, memberships, sequence numbers, history) into an empty PostgreSQL database. Exit codes:
/// 0 copied, 1 the copy failed or was refused (nothing written), 2 a usage or configuration error.
/// </summary>
public static class MigrateStorageCommand
{
    /// <summary>The command's name, the first argument.</summary>
    public const string Name = "migrate-storage";

    /// <summary>The command's help text.</summary>
    public static string Usage =>
        """
        Usage: tinychat migrate-storage --to "CONNECTION STRING" [--config PATH] [--data PATH] [--Section:Key VALUE]

        Copies the configured SQLite store (users with hashed tokens, rooms, memberships, sequence numbers and
        history) into an EMPTY PostgreSQL database, then prints the counts. Stop TinyChat first; run it before
        any node has started on the PostgreSQL database. Then set Storage:Provider to postgres and
        Storage:ConnectionString (or TINYCHAT__Storage__ConnectionString) to the same connection string.

          --to CONNSTR   Npgsql connection string, e.g. "Host=db;Database=tinychat;Username=tinychat;Password=..."
          --config, --data and --Section:Key select the SQLite store as for the server.

        Exit codes: 0 copied; 1 refused or failed (nothing was written); 2 usage or configuration error.
        """;

    /// <summary>Runs the command with the arguments after its name.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        string? to = null;
        var serverArgs = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            switch (args[i])
            {
                case "-h" or "--help":
                    await output.WriteLineAsync(Usage).ConfigureAwait(false);
                    return 0;
                case "--to" when i + 1 < args.Count && !args[i + 1].StartsWith("--", StringComparison.Ordinal):
                    to = args[++i];
                    break;
                case "--to":
                    return await UsageErrorAsync(error, "--to needs a value (--to \"CONNECTION STRING\")").ConfigureAwait(false);
                default:
                    serverArgs.Add(args[i]);
                    break;
            }
        }

        if (to is null)
        {
            return await UsageErrorAsync(error, "--to \"CONNECTION STRING\" is required (the PostgreSQL database to copy into)").ConfigureAwait(false);
        }

        if (PostgresStoreSettings.Problem(to) is { } problem)
        {
            return await UsageErrorAsync(error, $"--to {problem}").ConfigureAwait(false);
        }

        string path;
        try
        {
            // Only the Storage section matters here (no web client folder, ports or front doors are checked).
            using var host = TinyChatHost.Build([.. serverArgs]);
            var options = host.Services.GetRequiredService<IOptions<StorageOptions>>().Value;
            if (!StorageOptions.IsSqlite(options.Provider))
            {
                return await UsageErrorAsync(error, $"migrate-storage copies from the SQLite store, but Storage:Provider is \"{options.Provider}\"").ConfigureAwait(false);
            }

            path = host.Services.GetRequiredService<SqliteStore>().DatabasePath;
        }
        catch (Exception ex) when (Program.StartupProblem(ex) is { } startup)
        {
            return await UsageErrorAsync(error, startup).ConfigureAwait(false);
        }

        if (!File.Exists(path))
        {
            await error.WriteLineAsync($"tinychat: {Name}: there is no SQLite store at {path}: nothing to copy (give --config or --data)").ConfigureAwait(false);
            return 1;
        }

        var source = new SqliteStore(new SqliteStoreSettings(path, SqliteSynchronous.Full, RetentionPolicy.Unlimited), TimeProvider.System, NullLogger<SqliteStore>.Instance);
        var target = new PostgresStore(new PostgresStoreSettings(to, RetentionPolicy.Unlimited), TimeProvider.System, NullLogger<PostgresStore>.Instance);
        try
        {
            // Opening the SQLite store takes the data directory's lock: a running server refuses the copy.
            await source.OpenAsync(cancellationToken).ConfigureAwait(false);
            await target.OpenAsync(cancellationToken).ConfigureAwait(false);
            var counts = await StorageCopy.CopyAsync(new SqliteExport(source), new PostgresImport(target), cancellationToken).ConfigureAwait(false);
            await output.WriteLineAsync(
                $"copied {path} to {target.Location}: {counts.Users} users, {counts.Rooms} rooms, {counts.Memberships} memberships, " +
                $"{counts.RoomMessages} room messages, {counts.PrivateMessages} private messages").ConfigureAwait(false);
            return 0;
        }
        catch (Exception ex) when (ex is StorageException or NpgsqlException or StoreUnavailableException)
        {
            await error.WriteLineAsync($"tinychat: {Name}: {FirstLine(ex.Message)}").ConfigureAwait(false);
            return 1;
        }
        finally
        {
            await target.CloseAsync(CancellationToken.None).ConfigureAwait(false);
            await source.CloseAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }

    private static async Task<int> UsageErrorAsync(TextWriter error, string message)
    {
        await error.WriteLineAsync($"tinychat: {Name}: {message} (try tinychat {Name} --help)").ConfigureAwait(false);
        return 2;
    }

    private static string FirstLine(string message)
    {
        var end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }
}
