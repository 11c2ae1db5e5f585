using Microsoft.Data.Sqlite;
using TinyChat.Chat;

namespace TinyChat.Storage.Sqlite;

/// <summary>
/// The admin command line's view of a SQLite data file, and the change record a running server polls. Opens the
/// file beside a running server (no data-directory lock): SQLite's own locking serialises writers, and each write
/// here is one short <c>BEGIN IMMEDIATE</c> transaction that waits (up to <see cref="BusyTimeoutSeconds"/>) for the
/// server's group commit to finish. Each call opens and closes its own connection, so nothing lingers in a pool.
/// </summary>
public sealed class SqliteAdminStore : IAdminStore
{
    /// <summary>How long a statement waits for another process's write transaction before it fails.</summary>
    public const int BusyTimeoutSeconds = 30;

    private readonly string connectionString;
    private readonly TimeProvider time;

    /// <summary>An admin view of <paramref name="databasePath"/>; nothing touches the disk before a call.</summary>
    public SqliteAdminStore(string databasePath, TimeProvider time)
    {
        DatabasePath = databasePath;
        this.time = time;
        connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = databasePath,
            Mode = SqliteOpenMode.ReadWrite,
            Pooling = false,
            DefaultTimeout = BusyTimeoutSeconds,
        }.ToString();
    }

    /// <summary>The database file.</summary>
    public string DatabasePath { get; }

    /// <summary>Whether the file exists (a server creates it on its first start).</summary>
    public bool Exists => File.Exists(DatabasePath);

    /// <inheritdoc />
    public async Task PrepareAsync(bool create, CancellationToken cancellationToken)
    {
        if (!create && !Exists)
        {
            throw Missing();
        }

        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(DatabasePath)!);
            var creating = new SqliteConnectionStringBuilder(connectionString) { Mode = SqliteOpenMode.ReadWriteCreate }.ToString();
            var connection = new SqliteConnection(creating);
            await using (connection.ConfigureAwait(false))
            {
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                var found = SqliteSchema.CheckVersion(connection, DatabasePath);
                if (found < SqliteSchema.CurrentVersion)
                {
                    Execute(connection, "PRAGMA journal_mode = WAL");
                    SqliteSchema.Migrate(connection, found);
                }
            }
        }
        catch (SqliteException ex)
        {
            throw new StorageException($"{DatabasePath} cannot be used: {ex.Message}", ex);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StorageException($"cannot create {DatabasePath}: {ex.Message}", ex);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> CreateUserAsync(string user, string token, CancellationToken cancellationToken) =>
        WriteAsync(
            connection => Run(
                connection,
                "INSERT INTO accounts (username, token_hash, created_at_ms) VALUES ($a, $b, $c) ON CONFLICT (username) DO NOTHING",
                user,
                TokenHash.Of(token),
                NowMs()) == 1,
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<InviteReport> CreateInviteAsync(string code, int uses, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        var now = NowMs();
        return WriteAsync(
            connection => new InviteReport(
                (long)Scalar(
                    connection,
                    "INSERT INTO invites (code_hash, hint, uses, uses_left, expires_at_ms, created_at_ms) VALUES ($a, $b, $c, $c, $d, $e) RETURNING id",
                    TokenHash.Of(code),
                    InviteCodes.Hint(code),
                    uses,
                    expiresAt.ToUnixTimeMilliseconds(),
                    now)!,
                InviteCodes.Hint(code),
                uses,
                uses,
                FromMs(expiresAt.ToUnixTimeMilliseconds()),
                FromMs(now)),
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<InviteReport>> ListInvitesAsync(CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<InviteReport>>(
            connection =>
            {
                using var command = connection.CreateCommand();
                command.CommandText = "SELECT id, hint, uses, uses_left, expires_at_ms, created_at_ms FROM invites ORDER BY id";
                using var reader = command.ExecuteReader();
                var invites = new List<InviteReport>();
                while (reader.Read())
                {
                    invites.Add(new InviteReport(reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2), reader.GetInt32(3), FromMs(reader.GetInt64(4)), FromMs(reader.GetInt64(5))));
                }

                return invites;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<bool> RevokeInviteAsync(string code, CancellationToken cancellationToken) =>
        WriteAsync(connection => Run(connection, "DELETE FROM invites WHERE code_hash = $a", TokenHash.Of(code)) == 1, cancellationToken);

    /// <inheritdoc />
    public ValueTask<bool> RevokeInviteAsync(long id, CancellationToken cancellationToken) =>
        WriteAsync(connection => Run(connection, "DELETE FROM invites WHERE id = $a", id) == 1, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<UserReport>> ListUsersAsync(CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<UserReport>>(
            connection =>
            {
                using var command = connection.CreateCommand();
                command.CommandText =
                    "SELECT a.username, a.created_at_ms, (SELECT count(*) FROM memberships m WHERE m.username = a.username) " +
                    "FROM accounts a ORDER BY a.username";
                using var reader = command.ExecuteReader();
                var users = new List<UserReport>();
                while (reader.Read())
                {
                    users.Add(new UserReport(reader.GetString(0), FromMs(reader.GetInt64(1)), reader.GetInt32(2)));
                }

                return users;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<bool> ResetTokenAsync(string user, string token, CancellationToken cancellationToken) =>
        WriteAsync(
            connection =>
            {
                if (Run(connection, "UPDATE accounts SET token_hash = $a WHERE username = $b", TokenHash.Of(token), user) == 0)
                {
                    return false;
                }

                Record(connection, "token_reset", user);
                return true;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<bool> DeleteUserAsync(string user, CancellationToken cancellationToken) =>
        WriteAsync(
            connection =>
            {
                if (Run(connection, "DELETE FROM accounts WHERE username = $a", user) == 0)
                {
                    return false;
                }

                Run(connection, "DELETE FROM memberships WHERE username = $a", user);
                // A later account of the same name is someone else: it inherits no role, invitation, ban or mute.
                Run(connection, "DELETE FROM room_standings WHERE username = $a", user);
                foreach (var table in new[] { "mentions", "room_reads", "private_reads", "conversations" })
                {
                    Run(connection, $"DELETE FROM {table} WHERE username = $a", user);
                }

                Record(connection, "user_deleted", user);
                return true;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<RoomReport>> ListRoomsAsync(CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<RoomReport>>(
            connection =>
            {
                using var command = connection.CreateCommand();
                command.CommandText =
                    """
                    SELECT r.name,
                           (SELECT count(*) FROM memberships m WHERE m.room_id = r.id),
                           (SELECT count(*) FROM room_messages x WHERE x.room_id = r.id),
                           (SELECT x.sent_at_ms FROM room_messages x WHERE x.room_id = r.id ORDER BY x.seq DESC LIMIT 1)
                    FROM rooms r ORDER BY r.name
                    """;
                using var reader = command.ExecuteReader();
                var rooms = new List<RoomReport>();
                while (reader.Read())
                {
                    rooms.Add(new RoomReport(reader.GetString(0), reader.GetInt32(1), reader.GetInt64(2), reader.IsDBNull(3) ? null : FromMs(reader.GetInt64(3))));
                }

                return rooms;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<bool> DeleteRoomAsync(string room, CancellationToken cancellationToken) =>
        WriteAsync(
            connection =>
            {
                if (Scalar(connection, "SELECT id FROM rooms WHERE name = $a", room) is not long id)
                {
                    return false;
                }

                Run(connection, "DELETE FROM room_messages WHERE room_id = $a", id);
                Run(connection, "DELETE FROM memberships WHERE room_id = $a", id);
                Run(connection, "DELETE FROM room_standings WHERE room_id = $a", id);
                Run(connection, "DELETE FROM mentions WHERE room_id = $a", id);
                Run(connection, "DELETE FROM room_reads WHERE room_id = $a", id);
                Run(connection, "DELETE FROM rooms WHERE id = $a", id);
                Record(connection, "room_deleted", room);
                return true;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<long> LastChangeAsync(CancellationToken cancellationToken) =>
        ReadAsync(connection => Scalar(connection, "SELECT coalesce(max(id), 0) FROM admin_changes") as long? ?? 0L, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<AdminChange>> ChangesAfterAsync(long id, int limit, CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<AdminChange>>(
            connection =>
            {
                using var command = connection.CreateCommand();
                command.CommandText = "SELECT id, kind, name FROM admin_changes WHERE id > $a ORDER BY id LIMIT $b";
                command.Parameters.AddWithValue("$a", id);
                command.Parameters.AddWithValue("$b", limit);
                using var reader = command.ExecuteReader();
                var changes = new List<AdminChange>();
                while (reader.Read())
                {
                    if (KindOf(reader.GetString(1)) is { } kind)
                    {
                        changes.Add(new AdminChange(reader.GetInt64(0), kind, reader.GetString(2)));
                    }
                }

                return changes;
            },
            cancellationToken);

    /// <summary>
    /// Writes a consistent copy of the database to <paramref name="target"/> (which must not exist) while servers
    /// keep writing: <c>VACUUM INTO</c> reads one snapshot, so the copy holds exactly the transactions committed
    /// before it began, and is compacted. The copy is a complete database in rollback-journal mode.
    /// </summary>
    public async Task BackupAsync(string target, CancellationToken cancellationToken)
    {
        if (File.Exists(target) || Directory.Exists(target))
        {
            throw new StorageException($"{target} exists already: a backup never overwrites; name a new file");
        }

        var folder = Path.GetDirectoryName(Path.GetFullPath(target))!;
        if (!Directory.Exists(folder))
        {
            throw new StorageException($"the folder {folder} does not exist");
        }

        await ReadAsync(connection => Run(connection, "VACUUM INTO $a", target), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Checks the file as SQLite sees it (<c>integrity_check</c>, <c>foreign_key_check</c>) and as TinyChat does
    /// (schema version, rooms whose <c>last_seq</c> is below a stored message). Empty when all is well.
    /// </summary>
    public ValueTask<IReadOnlyList<string>> CheckAsync(CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<string>>(
            connection =>
            {
                var problems = new List<string>();
                var version = SqliteSchema.CheckVersion(connection, DatabasePath);
                if (version != SqliteSchema.CurrentVersion)
                {
                    problems.Add($"schema version {version}; this TinyChat migrates it to {SqliteSchema.CurrentVersion} when it opens the file");
                }

                using (var command = connection.CreateCommand())
                {
                    command.CommandText = "PRAGMA integrity_check";
                    using var reader = command.ExecuteReader();
                    while (reader.Read())
                    {
                        var line = reader.GetString(0);
                        if (line != "ok")
                        {
                            problems.Add("integrity: " + line);
                        }
                    }
                }

                using (var command = connection.CreateCommand())
                {
                    command.CommandText = "PRAGMA foreign_key_check";
                    using var reader = command.ExecuteReader();
                    while (reader.Read())
                    {
                        problems.Add($"table {reader.GetString(0)} row {reader.GetValue(1)} refers to a missing row of {reader.GetString(2)}");
                    }
                }

                using (var command = connection.CreateCommand())
                {
                    command.CommandText = "SELECT r.name, r.last_seq, max(x.seq) FROM rooms r JOIN room_messages x ON x.room_id = r.id GROUP BY r.id HAVING max(x.seq) > r.last_seq";
                    using var reader = command.ExecuteReader();
                    while (reader.Read())
                    {
                        problems.Add($"room {reader.GetString(0)}: last_seq {reader.GetInt64(1)} is below its newest message {reader.GetInt64(2)}");
                    }
                }

                return problems;
            },
            cancellationToken);

    /// <summary>How many rows each TinyChat table holds (for a backup's report).</summary>
    public ValueTask<IReadOnlyDictionary<string, long>> CountAsync(CancellationToken cancellationToken) => CountIn(connectionString, cancellationToken);

    /// <summary>How many rows each TinyChat table of the database at <paramref name="path"/> holds, opened read-only.</summary>
    public static ValueTask<IReadOnlyDictionary<string, long>> CountAsync(string path, CancellationToken cancellationToken) =>
        CountIn(new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadOnly, Pooling = false }.ToString(), cancellationToken);

    private static async ValueTask<IReadOnlyDictionary<string, long>> CountIn(string connectionString, CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(connectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
            foreach (var table in new[] { "accounts", "rooms", "memberships", "room_standings", "room_messages", "private_messages" })
            {
                counts[table] = (long)Scalar(connection, $"SELECT count(*) FROM {table}")!;
            }

            return counts;
        }
    }

    private static AdminChangeKind? KindOf(string kind) => kind switch
    {
        "token_reset" => AdminChangeKind.TokenReset,
        "user_deleted" => AdminChangeKind.UserDeleted,
        "room_deleted" => AdminChangeKind.RoomDeleted,
        _ => null, // written by a newer TinyChat: not ours to apply
    };

    private void Record(SqliteConnection connection, string kind, string name) =>
        Run(connection, "INSERT INTO admin_changes (kind, name, at_ms) VALUES ($a, $b, $c)", kind, name, NowMs());

    private long NowMs() => time.GetUtcNow().ToUnixTimeMilliseconds();

    private static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private async ValueTask<T> ReadAsync<T>(Func<SqliteConnection, T> read, CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            return read(connection);
        }
    }

    private async ValueTask<T> WriteAsync<T>(Func<SqliteConnection, T> write, CancellationToken cancellationToken)
    {
        var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        await using (connection.ConfigureAwait(false))
        {
            // IMMEDIATE: take the write lock first (waiting for a server's commit), so the checks and the changes see one state.
            using var transaction = connection.BeginTransaction(deferred: false);
            var result = write(connection);
            transaction.Commit();
            return result;
        }
    }

    private async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        if (!Exists)
        {
            throw Missing();
        }

        var connection = new SqliteConnection(connectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private StorageException Missing() =>
        new($"no database at {DatabasePath} (a server creates it on its first start; check --config and --data)");

    private static int Run(SqliteConnection connection, string sql, params object[] values)
    {
        using var command = Command(connection, sql, values);
        return command.ExecuteNonQuery();
    }

    private static object? Scalar(SqliteConnection connection, string sql, params object[] values)
    {
        using var command = Command(connection, sql, values);
        return command.ExecuteScalar();
    }

    // Parameters are named $a, $b, $c ... in order.
    private static SqliteCommand Command(SqliteConnection connection, string sql, object[] values)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters.AddWithValue("$" + (char)('a' + i), values[i]);
        }

        return command;
    }

    private static void Execute(SqliteConnection connection, string sql) => Run(connection, sql);
}
