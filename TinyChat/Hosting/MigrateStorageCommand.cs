using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using TinyChat.Storage;
using TinyChat.Storage.Postgres;
using TinyChat.Storage.Sqlite;

namespace TinyChat.Hosting;

/// <summary>
/// <c>tinychat migrate-storage --to "CONNECTION STRING"</c>: copies the configured SQLite store (users with their
/// hashed tokens, rooms, memberships, sequence numbers, history) into an empty PostgreSQL database. One
/// <see cref="Command"/> of <see cref="AdminCommandLine"/>: exit 0 copied, 1 refused or failed (nothing written),
/// 2 a command line that does not parse.
/// </summary>
public static class MigrateStorageCommand
{
    /// <summary>The command's name.</summary>
    public const string Name = "migrate-storage";

    /// <summary>The command, printing its counts to <paramref name="output"/>.</summary>
    public static Command Build(TextWriter output)
    {
        // Zero or one value, so that "--to" followed by another option reads as a missing value, in our words.
        var to = new Option<string?>("--to")
        {
            Description = "the PostgreSQL database, as an Npgsql connection string, e.g. \"Host=db;Database=tinychat;Username=tinychat;Password=...\"",
            HelpName = "CONNECTION STRING",
            Arity = ArgumentArity.ZeroOrOne,
        };
        to.Validators.Add(result =>
        {
            if (result.Tokens.Count == 0)
            {
                result.AddError("--to needs a value (--to \"CONNECTION STRING\")");
            }
            else if (PostgresStoreSettings.Problem(result.Tokens[0].Value) is { } problem)
            {
                result.AddError($"--to {problem}");
            }
        });

        // --Section:Key VALUE reaches the server's own parser, which names anything it does not know.
        var settings = new Argument<string[]>("--Section:Key VALUE")
        {
            Description = "any configuration key, as for the server (e.g. --Storage:DataDirectory PATH)",
            Arity = ArgumentArity.ZeroOrMore,
        };

        var command = new Command(
            Name,
            "copy the configured SQLite store (users with hashed tokens, rooms, memberships, sequence numbers, history) " +
            "into an EMPTY PostgreSQL database and print the counts. Stop TinyChat first and run it before any node has " +
            "started on the PostgreSQL database; then set Storage:Provider to postgres and Storage:ConnectionString (or " +
            "TINYCHAT__Storage__ConnectionString) to the same connection string.")
        {
            to,
            settings,
        };

        command.Validators.Add(result =>
        {
            if (result.GetResult(to) is null)
            {
                result.AddError("--to \"CONNECTION STRING\" is required (the PostgreSQL database to copy into)");
            }
        });
        command.SetAction((parse, ct) => CopyAsync(parse, parse.GetValue(to)!, parse.GetValue(settings) ?? [], output, ct));
        return command;
    }

    private static async Task<int> CopyAsync(ParseResult parse, string to, IReadOnlyList<string> settings, TextWriter output, CancellationToken cancellationToken)
    {
        var serverArgs = AdminCommandLine.ServerArguments(parse, settings);
        string path;
        using (var host = TinyChatHost.Build([.. serverArgs]))
        {
            // Only the Storage section matters here (no web client folder, ports or front doors are checked).
            var options = host.Services.GetRequiredService<IOptions<StorageOptions>>().Value;
            if (!StorageOptions.IsSqlite(options.Provider))
            {
                throw new AdminCommandException($"{Name} copies from the SQLite store, but Storage:Provider is \"{options.Provider}\"");
            }

            path = host.Services.GetRequiredService<SqliteStore>().DatabasePath;
        }

        if (!File.Exists(path))
        {
            throw new AdminCommandException($"there is no SQLite store at {path}: nothing to copy (give --config or --data)");
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
            return AdminCommandLine.Done;
        }
        finally
        {
            await target.CloseAsync(CancellationToken.None).ConfigureAwait(false);
            await source.CloseAsync(CancellationToken.None).ConfigureAwait(false);
        }
    }
}
