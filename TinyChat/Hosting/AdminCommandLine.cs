using System.CommandLine;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Runtime;
using TinyChat.Storage;
using TinyChat.Storage.Sqlite;

namespace TinyChat.Hosting;

/// <summary>
/// The administrator's commands on the server's own binary (<c>tinychat users add NAME</c>, <c>rooms list</c>,
/// <c>backup PATH</c>, ...), parsed by System.CommandLine. Each works on the store the server would use with the same
/// <c>--config</c>/<c>--data</c> (and <c>TINYCHAT__*</c> variables), also while a server runs on it; changes that open
/// connections must feel are recorded in the store, and running servers apply them (<see cref="AdminChangeWatch"/>).
/// Exit codes: 0 done, 1 failed (one line on stderr), 2 usage (one line on stderr). A new command is one more
/// <see cref="Command"/> in <see cref="Build"/>.
/// </summary>
public static class AdminCommandLine
{
    /// <summary>Exit code of a command that did what it was asked.</summary>
    public const int Done = 0;

    /// <summary>Exit code of a command that could not do it (the reason is one line on stderr).</summary>
    public const int Failed = 1;

    /// <summary>Exit code of a command line that does not parse.</summary>
    public const int Usage = 2;

    /// <summary>The names of the top-level commands (anything else on the command line starts the server).</summary>
    public static IReadOnlyList<string> Commands { get; } = [.. Build(TextWriter.Null).Subcommands.Select(c => c.Name)];

    /// <summary>Whether the arguments name an admin command rather than server options.</summary>
    public static bool Handles(IReadOnlyList<string> args) => args.Count > 0 && Commands.Contains(args[0], StringComparer.Ordinal);

    /// <summary>Parses and runs one admin command; returns its exit code.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextWriter output, TextWriter error, CancellationToken cancellationToken)
    {
        var root = Build(output);
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            var command = string.Join(' ', parsed.CommandResult.Command == root ? ["tinychat"] : Path(parsed.CommandResult));
            // The last error is the most specific: an unknown word comes after the "command missing" it causes.
            await error.WriteLineAsync($"tinychat: {parsed.Errors[^1].Message} (try {command} --help)").ConfigureAwait(false);
            return Usage;
        }

        try
        {
            return await parsed.InvokeAsync(new InvocationConfiguration { Output = output, Error = error, EnableDefaultExceptionHandler = false }, cancellationToken).ConfigureAwait(false);
        }
        catch (AdminUsageException usage)
        {
            await error.WriteLineAsync($"tinychat: {usage.Message} (try {string.Join(' ', Path(parsed.CommandResult))} --help)").ConfigureAwait(false);
            return Usage;
        }
        catch (Exception ex) when (Problem(ex) is { } problem)
        {
            await error.WriteLineAsync($"tinychat: {problem}").ConfigureAwait(false);
            return Failed;
        }
    }

    /// <summary>
    /// The server's command line that selects the same configuration: <c>--config</c>, <c>--data</c> and, for a command
    /// that takes them, <paramref name="settings"/> (<c>--Section:Key VALUE</c>); anything the server's parser does not
    /// know is a usage error.
    /// </summary>
    public static IReadOnlyList<string> ServerArguments(ParseResult parse, IReadOnlyList<string>? settings = null)
    {
        var args = new List<string>();
        if (parse.GetValue<string?>("--config") is { } config)
        {
            args.AddRange(["--config", config]);
        }

        if (parse.GetValue<string?>("--data") is { } data)
        {
            args.AddRange(["--data", data]);
        }

        args.AddRange(settings ?? []);
        try
        {
            CommandLine.Parse(args);
        }
        catch (StartupException ex)
        {
            throw new AdminUsageException(ex.Message.Replace(" (try --help)", "", StringComparison.Ordinal));
        }

        return args;
    }

    /// <summary>The command tree; <paramref name="output"/> receives what commands print.</summary>
    public static RootCommand Build(TextWriter output)
    {
        var root = new RootCommand("TinyChat administration: works on the configured store, also while the server runs.");
        foreach (var version in root.Options.OfType<VersionOption>().ToList())
        {
            root.Options.Remove(version);
        }

        root.Options.Add(new Option<string?>("--config")
        {
            Description = "configuration file (as for the server; default: chat.config.json next to the executable, then in the working directory)",
            HelpName = "PATH",
            Recursive = true,
        });
        root.Options.Add(new Option<string?>("--data")
        {
            Description = "folder of the database (Storage:DataDirectory), as for the server",
            HelpName = "PATH",
            Recursive = true,
        });
        root.Subcommands.Add(Users(output));
        root.Subcommands.Add(Rooms(output));
        root.Subcommands.Add(Invites(output));
        root.Subcommands.Add(Backup(output));
        root.Subcommands.Add(Check(output));
        root.Subcommands.Add(MigrateStorageCommand.Build(output));
        return root;
    }

    private static Command Users(TextWriter output)
    {
        var users = new Command("users", "accounts: add, list, reset-token, delete");

        var addName = UserName();
        var add = new Command("add", "create an account and print its access token (shown only this once)") { addName };
        add.SetAction((parse, ct) => WithStoreAsync(parse, create: true, async store =>
        {
            var name = parse.GetRequiredValue(addName);
            if (ChatNames.CheckUserName(name) is { } why)
            {
                throw new AdminCommandException(why);
            }

            var token = ChatServer.NewAccessToken();
            if (!await store.CreateUserAsync(name, token, ct).ConfigureAwait(false))
            {
                throw new AdminCommandException($"user {name} exists already (reset its token with: tinychat users reset-token {name})");
            }

            await output.WriteLineAsync(token).ConfigureAwait(false);
        }, ct));

        var list = new Command("list", "every account: name, created (UTC), rooms joined");
        list.SetAction((parse, ct) => WithStoreAsync(parse, create: false, async store =>
        {
            var all = await store.ListUsersAsync(ct).ConfigureAwait(false);
            await WriteTableAsync(output, ["USER", "CREATED", "ROOMS"], all.Select(u => new[] { u.User, Time(u.CreatedAt), Number(u.Rooms) })).ConfigureAwait(false);
        }, ct));

        var resetName = UserName();
        var reset = new Command("reset-token", "give the account a new access token and print it; connections opened with the old one are closed") { resetName };
        reset.SetAction((parse, ct) => WithStoreAsync(parse, create: false, async store =>
        {
            var name = parse.GetRequiredValue(resetName);
            var token = ChatServer.NewAccessToken();
            if (!await store.ResetTokenAsync(name, token, ct).ConfigureAwait(false))
            {
                throw new AdminCommandException($"no user {name}");
            }

            await output.WriteLineAsync(token).ConfigureAwait(false);
        }, ct));

        var deleteName = UserName();
        var delete = new Command("delete", "delete the account and its memberships (its messages stay in the history); its connections are closed") { deleteName };
        delete.SetAction((parse, ct) => WithStoreAsync(parse, create: false, async store =>
        {
            var name = parse.GetRequiredValue(deleteName);
            if (!await store.DeleteUserAsync(name, ct).ConfigureAwait(false))
            {
                throw new AdminCommandException($"no user {name}");
            }

            await output.WriteLineAsync($"deleted user {name}").ConfigureAwait(false);
        }, ct));

        users.Subcommands.Add(add);
        users.Subcommands.Add(list);
        users.Subcommands.Add(reset);
        users.Subcommands.Add(delete);
        return users;
    }

    private static Command Rooms(TextWriter output)
    {
        var rooms = new Command("rooms", "rooms: list, delete");

        var list = new Command("list", "every room: members, stored messages, last message (UTC)");
        list.SetAction((parse, ct) => WithStoreAsync(parse, create: false, async store =>
        {
            var all = await store.ListRoomsAsync(ct).ConfigureAwait(false);
            await WriteTableAsync(
                output,
                ["ROOM", "MEMBERS", "MESSAGES", "LAST ACTIVITY"],
                all.Select(r => new[] { r.Room, Number(r.Members), Number(r.Messages), r.LastActivity is { } at ? Time(at) : "-" })).ConfigureAwait(false);
        }, ct));

        var deleteName = new Argument<string>("NAME") { Description = "the room" };
        var delete = new Command("delete", "delete the room with its memberships and history; its online members see everyone leave") { deleteName };
        delete.SetAction((parse, ct) => WithStoreAsync(parse, create: false, async store =>
        {
            var name = parse.GetRequiredValue(deleteName);
            if (name == ChatNames.DefaultRoom)
            {
                throw new AdminCommandException($"the room {ChatNames.DefaultRoom} cannot be deleted: every server recreates it at start");
            }

            if (!await store.DeleteRoomAsync(name, ct).ConfigureAwait(false))
            {
                throw new AdminCommandException($"no room {name}");
            }

            await output.WriteLineAsync($"deleted room {name}").ConfigureAwait(false);
        }, ct));

        rooms.Subcommands.Add(list);
        rooms.Subcommands.Add(delete);
        return rooms;
    }

    private static Command Invites(TextWriter output)
    {
        var invites = new Command("invites", "invite codes for Chat:Registration = invite: create, list, revoke");

        var uses = new Option<int>("--uses") { Description = "registrations the code allows", DefaultValueFactory = _ => 1, HelpName = "N" };
        var expiresIn = new Option<string>("--expires-in") { Description = "how long the code is valid: 30m, 12h, 7d", DefaultValueFactory = _ => "7d", HelpName = "LIFETIME" };
        var create = new Command("create", "create an invite code and print it (shown only this once; only its first characters are kept in clear)") { uses, expiresIn };
        create.SetAction((parse, ct) => WithStoreAsync(parse, create: true, async store =>
        {
            var count = parse.GetValue(uses);
            if (count is < 1 or > InviteCodes.MaxUses)
            {
                throw new AdminUsageException($"--uses must be 1..{InviteCodes.MaxUses}, got {count}");
            }

            var lifetime = InviteCodes.ParseLifetime(parse.GetValue(expiresIn), out var why) ?? throw new AdminUsageException($"--expires-in: {why}");
            var code = InviteCodes.New();
            await store.CreateInviteAsync(code, count, TimeProvider.System.GetUtcNow() + lifetime, ct).ConfigureAwait(false);
            await output.WriteLineAsync(code).ConfigureAwait(false);
        }, ct));

        var list = new Command("list", "every invite code: id, first characters, uses left, expiry (UTC), state");
        list.SetAction((parse, ct) => WithStoreAsync(parse, create: false, async store =>
        {
            var now = TimeProvider.System.GetUtcNow();
            var all = await store.ListInvitesAsync(ct).ConfigureAwait(false);
            await WriteTableAsync(
                output,
                ["ID", "CODE", "USES LEFT", "EXPIRES", "CREATED", "STATE"],
                all.Select(i => new[]
                {
                    Number(i.Id), i.Hint + "…", $"{Number(i.UsesLeft)}/{Number(i.Uses)}", Time(i.ExpiresAt), Time(i.CreatedAt),
                    i.UsesLeft == 0 ? "used up" : i.ExpiresAt <= now ? "expired" : "valid",
                })).ConfigureAwait(false);
        }, ct));

        var which = new Argument<string>("CODE") { Description = "the code, or its id as listed" };
        var revoke = new Command("revoke", "delete an invite code: it registers nobody any more (accounts it created stay)") { which };
        revoke.SetAction((parse, ct) => WithStoreAsync(parse, create: false, async store =>
        {
            var code = parse.GetRequiredValue(which);
            var revoked = long.TryParse(code, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
                ? await store.RevokeInviteAsync(id, ct).ConfigureAwait(false)
                : await store.RevokeInviteAsync(code, ct).ConfigureAwait(false);
            if (!revoked)
            {
                throw new AdminCommandException($"no invite code {code}");
            }

            await output.WriteLineAsync($"revoked invite {code}").ConfigureAwait(false);
        }, ct));

        invites.Subcommands.Add(create);
        invites.Subcommands.Add(list);
        invites.Subcommands.Add(revoke);
        return invites;
    }

    private static Command Backup(TextWriter output)
    {
        var target = new Argument<string>("PATH") { Description = "the new file (must not exist)" };
        var backup = new Command("backup", "write a consistent copy of the SQLite database to PATH, also while the server runs") { target };
        backup.SetAction((parse, ct) => WithStoreAsync(parse, create: false, async store =>
        {
            var sqlite = store as SqliteAdminStore ?? throw new AdminCommandException("backup copies a SQLite file; back a PostgreSQL store up with pg_dump");
            var path = System.IO.Path.GetFullPath(parse.GetRequiredValue(target));
            await sqlite.BackupAsync(path, ct).ConfigureAwait(false);
            var counts = await SqliteAdminStore.CountAsync(path, ct).ConfigureAwait(false);
            await output.WriteLineAsync($"wrote {path}: " + string.Join(", ", counts.Select(c => $"{c.Key} {c.Value}"))).ConfigureAwait(false);
        }, ct));
        return backup;
    }

    private static Command Check(TextWriter output)
    {
        var check = new Command("check", "check the SQLite database's integrity (SQLite's checks and TinyChat's own); exit 1 on a problem");
        check.SetAction((parse, ct) => WithStoreAsync(parse, create: false, async store =>
        {
            var sqlite = store as SqliteAdminStore ?? throw new AdminCommandException("check reads a SQLite file; PostgreSQL checks its own pages");
            var problems = await sqlite.CheckAsync(ct).ConfigureAwait(false);
            foreach (var problem in problems)
            {
                await output.WriteLineAsync(problem).ConfigureAwait(false);
            }

            if (problems.Count > 0)
            {
                throw new AdminCommandException($"{sqlite.DatabasePath}: {problems.Count} problem(s), listed above");
            }

            await output.WriteLineAsync($"{sqlite.DatabasePath}: ok").ConfigureAwait(false);
        }, ct));
        return check;
    }

    private static Argument<string> UserName() => new("NAME") { Description = "the user name" };

    // The store the server would open with the same --config/--data: the host is built (configuration, options
    // validation, storage composition) but never started.
    private static async Task<int> WithStoreAsync(ParseResult parse, bool create, Func<IAdminStore, Task> act, CancellationToken cancellationToken)
    {
        var host = TinyChatHost.Build([.. ServerArguments(parse)]);
        try
        {
            var storage = host.Services.GetRequiredService<IOptions<StorageOptions>>().Value;
            var store = host.Services.GetService<IAdminStore>()
                ?? throw new AdminCommandException($"Storage:Provider is {storage.Provider}: nothing is kept, so there is nothing to administer");
            await store.PrepareAsync(create, cancellationToken).ConfigureAwait(false);
            await act(store).ConfigureAwait(false);
            return Done;
        }
        finally
        {
            // Asynchronously: a PostgreSQL store's pool closes only that way.
            if (host is IAsyncDisposable disposable)
            {
                await disposable.DisposeAsync().ConfigureAwait(false);
            }
            else
            {
                host.Dispose();
            }
        }
    }

    private static async Task WriteTableAsync(TextWriter output, string[] header, IEnumerable<string[]> rows)
    {
        var all = rows.Prepend(header).ToList();
        var widths = Enumerable.Range(0, header.Length).Select(c => all.Max(r => r[c].Length)).ToArray();
        foreach (var row in all)
        {
            var cells = row.Select((cell, c) => c == row.Length - 1 ? cell : cell.PadRight(widths[c]));
            await output.WriteLineAsync(string.Join("  ", cells)).ConfigureAwait(false);
        }
    }

    private static string Time(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    private static IEnumerable<string> Path(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new Stack<string>();
        for (System.CommandLine.Parsing.SymbolResult? at = result; at is not null; at = at.Parent)
        {
            if (at is System.CommandLine.Parsing.CommandResult command)
            {
                names.Push(command.Command is RootCommand ? "tinychat" : command.Command.Name);
            }
        }

        return names;
    }

    private static string? Problem(Exception ex) => ex switch
    {
        AdminCommandException admin => admin.Message,
        StorageException storage => FirstLine(storage.Message),
        StoreUnavailableException unavailable => FirstLine(unavailable.Message),
        Microsoft.Data.Sqlite.SqliteException sqlite => FirstLine(sqlite.Message),
        Npgsql.NpgsqlException postgres => FirstLine(postgres.Message),
        _ => StartupProblem.Of(ex),
    };

    private static string FirstLine(string message)
    {
        var end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }
}

/// <summary>An admin command that cannot do what it was asked; the message is the one line the operator reads (exit 1).</summary>
public sealed class AdminCommandException(string message) : Exception(message);

/// <summary>An admin command line that parsed but asks for something the command does not take (exit 2).</summary>
public sealed class AdminUsageException(string message) : Exception(message);
