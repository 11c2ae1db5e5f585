using Npgsql;
using TinyChat.Chat;

namespace TinyChat.Storage.Postgres;

/// <summary>
/// The admin command line's view of a PostgreSQL store, and the change record every node of a cluster polls.
/// Works through the <see cref="PostgresStore"/>'s pool and outage handling (a node's watch fails fast while the
/// database is away). Each change is one transaction: the change itself, then its <see cref="AdminChange"/> row.
/// </summary>
public sealed class PostgresAdminStore(PostgresStore store, TimeProvider time) : IAdminStore
{
    /// <inheritdoc />
    public async Task PrepareAsync(bool create, CancellationToken cancellationToken)
    {
        if (store.IsOpen)
        {
            return;
        }

        if (!create && !await HoldsTinyChatAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new StorageException($"the database {store.Location} holds no TinyChat tables (a server creates them on its first start; check Storage:ConnectionString)");
        }

        // As a node's start does: refuses a newer or foreign schema, migrates an older one.
        await store.OpenAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<bool> CreateUserAsync(string user, string token, CancellationToken cancellationToken)
    {
        var hash = TokenHash.Of(token);
        var now = NowMs();
        return store.RunAsync(
            async (connection, ct) => await PostgresStore.ExecuteAsync(
                connection,
                "INSERT INTO accounts (username, token_hash, created_at_ms) VALUES ($1, $2, $3) ON CONFLICT (username) DO NOTHING",
                ct,
                user,
                hash,
                now).ConfigureAwait(false) == 1,
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<InviteReport> CreateInviteAsync(string code, int uses, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        var hash = TokenHash.Of(code);
        var hint = InviteCodes.Hint(code);
        var now = NowMs();
        var expires = expiresAt.ToUnixTimeMilliseconds();
        return store.RunAsync(
            async (connection, ct) => new InviteReport(
                (long)(await PostgresStore.ScalarAsync(
                    connection,
                    "INSERT INTO invites (code_hash, hint, uses, uses_left, expires_at_ms, created_at_ms) VALUES ($1, $2, $3, $3, $4, $5) RETURNING id",
                    ct,
                    hash,
                    hint,
                    uses,
                    expires,
                    now).ConfigureAwait(false))!,
                hint,
                uses,
                uses,
                FromMs(expires),
                FromMs(now)),
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<InviteReport>> ListInvitesAsync(CancellationToken cancellationToken) =>
        store.RunAsync<IReadOnlyList<InviteReport>>(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand("SELECT id, hint, uses, uses_left, expires_at_ms, created_at_ms FROM invites ORDER BY id", connection);
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                var invites = new List<InviteReport>();
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    invites.Add(new InviteReport(reader.GetInt64(0), reader.GetString(1), reader.GetInt32(2), reader.GetInt32(3), FromMs(reader.GetInt64(4)), FromMs(reader.GetInt64(5))));
                }

                return invites;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<bool> RevokeInviteAsync(string code, CancellationToken cancellationToken)
    {
        var hash = TokenHash.Of(code);
        return store.RunAsync(
            async (connection, ct) => await PostgresStore.ExecuteAsync(connection, "DELETE FROM invites WHERE code_hash = $1", ct, hash).ConfigureAwait(false) == 1,
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<bool> RevokeInviteAsync(long id, CancellationToken cancellationToken) =>
        store.RunAsync(
            async (connection, ct) => await PostgresStore.ExecuteAsync(connection, "DELETE FROM invites WHERE id = $1", ct, id).ConfigureAwait(false) == 1,
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<UserReport>> ListUsersAsync(CancellationToken cancellationToken) =>
        store.RunAsync<IReadOnlyList<UserReport>>(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(
                    "SELECT a.username, a.created_at_ms, (SELECT count(*) FROM memberships m WHERE m.username = a.username) " +
                    "FROM accounts a ORDER BY a.username",
                    connection);
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                var users = new List<UserReport>();
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    users.Add(new UserReport(reader.GetString(0), FromMs(reader.GetInt64(1)), (int)reader.GetInt64(2)));
                }

                return users;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<bool> ResetTokenAsync(string user, string token, CancellationToken cancellationToken)
    {
        var hash = TokenHash.Of(token);
        return ChangeAsync(
            "token_reset",
            user,
            async (connection, ct) => await PostgresStore.ExecuteAsync(connection, "UPDATE accounts SET token_hash = $1 WHERE username = $2", ct, hash, user).ConfigureAwait(false) == 1,
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<bool> DeleteUserAsync(string user, CancellationToken cancellationToken) =>
        ChangeAsync(
            "user_deleted",
            user,
            async (connection, ct) =>
            {
                if (await PostgresStore.ExecuteAsync(connection, "DELETE FROM accounts WHERE username = $1", ct, user).ConfigureAwait(false) == 0)
                {
                    return false;
                }

                await PostgresStore.ExecuteAsync(connection, "DELETE FROM memberships WHERE username = $1", ct, user).ConfigureAwait(false);
                // A later account of the same name is someone else: it inherits no role, invitation, ban or mute.
                await PostgresStore.ExecuteAsync(connection, "DELETE FROM room_standings WHERE username = $1", ct, user).ConfigureAwait(false);
                foreach (var table in new[] { "mentions", "room_reads", "private_reads", "conversations" })
                {
                    await PostgresStore.ExecuteAsync(connection, $"DELETE FROM {table} WHERE username = $1", ct, user).ConfigureAwait(false);
                }

                return true;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<RoomReport>> ListRoomsAsync(CancellationToken cancellationToken) =>
        store.RunAsync<IReadOnlyList<RoomReport>>(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(
                    """
                    SELECT r.name,
                           (SELECT count(*) FROM memberships m WHERE m.room_id = r.id),
                           (SELECT count(*) FROM room_messages x WHERE x.room_id = r.id),
                           (SELECT x.sent_at_ms FROM room_messages x WHERE x.room_id = r.id ORDER BY x.seq DESC LIMIT 1)
                    FROM rooms r ORDER BY r.name
                    """,
                    connection);
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                var rooms = new List<RoomReport>();
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    rooms.Add(new RoomReport(reader.GetString(0), (int)reader.GetInt64(1), reader.GetInt64(2), reader.IsDBNull(3) ? null : FromMs(reader.GetInt64(3))));
                }

                return rooms;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<bool> DeleteRoomAsync(string room, CancellationToken cancellationToken) =>
        ChangeAsync(
            "room_deleted",
            room,
            async (connection, ct) =>
            {
                // The room's row lock first: an append in flight (it holds the lock) commits before, later ones wait
                // and then find no room, so no message can land between the deletes below.
                if (await PostgresStore.ScalarAsync(connection, "SELECT id FROM rooms WHERE name = $1 FOR UPDATE", ct, room).ConfigureAwait(false) is not long id)
                {
                    return false;
                }

                await PostgresStore.ExecuteAsync(connection, "DELETE FROM room_messages WHERE room_id = $1", ct, id).ConfigureAwait(false);
                await PostgresStore.ExecuteAsync(connection, "DELETE FROM memberships WHERE room_id = $1", ct, id).ConfigureAwait(false);
                await PostgresStore.ExecuteAsync(connection, "DELETE FROM room_standings WHERE room_id = $1", ct, id).ConfigureAwait(false);
                await PostgresStore.ExecuteAsync(connection, "DELETE FROM mentions WHERE room_id = $1", ct, id).ConfigureAwait(false);
                await PostgresStore.ExecuteAsync(connection, "DELETE FROM room_reads WHERE room_id = $1", ct, id).ConfigureAwait(false);
                await PostgresStore.ExecuteAsync(connection, "DELETE FROM rooms WHERE id = $1", ct, id).ConfigureAwait(false);
                return true;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<long> LastChangeAsync(CancellationToken cancellationToken) =>
        store.RunAsync(
            async (connection, ct) => (long)(await PostgresStore.ScalarAsync(connection, "SELECT coalesce(max(id), 0) FROM admin_changes", ct).ConfigureAwait(false))!,
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<AdminChange>> ChangesAfterAsync(long id, int limit, CancellationToken cancellationToken) =>
        store.RunAsync<IReadOnlyList<AdminChange>>(
            async (connection, ct) =>
            {
                await using var command = PostgresStore.Command(connection, "SELECT id, kind, name FROM admin_changes WHERE id > $1 ORDER BY id LIMIT $2", [id, limit]);
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                var changes = new List<AdminChange>();
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    if (KindOf(reader.GetString(1)) is { } kind)
                    {
                        changes.Add(new AdminChange(reader.GetInt64(0), kind, reader.GetString(2)));
                    }
                }

                return changes;
            },
            cancellationToken);

    private static AdminChangeKind? KindOf(string kind) => kind switch
    {
        "token_reset" => AdminChangeKind.TokenReset,
        "user_deleted" => AdminChangeKind.UserDeleted,
        "room_deleted" => AdminChangeKind.RoomDeleted,
        _ => null, // written by a newer TinyChat: not ours to apply
    };

    // One transaction: the change, then its record. The record's table lock is held to the commit, so ids are
    // handed out in commit order (an identity alone numbers at insert time, and two changes could commit the other
    // way round, which a node that polls "id > last applied" would miss). Nothing changed: rolled back, no record.
    private ValueTask<bool> ChangeAsync(string kind, string name, Func<NpgsqlConnection, CancellationToken, Task<bool>> change, CancellationToken cancellationToken) =>
        store.RunAsync(
            async (connection, ct) =>
            {
                await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
                if (!await change(connection, ct).ConfigureAwait(false))
                {
                    return false;
                }

                await PostgresStore.ExecuteAsync(connection, "LOCK TABLE admin_changes IN SHARE ROW EXCLUSIVE MODE", ct).ConfigureAwait(false);
                await PostgresStore.ExecuteAsync(connection, "INSERT INTO admin_changes (kind, name, at_ms) VALUES ($1, $2, $3)", ct, kind, name, NowMs()).ConfigureAwait(false);
                await transaction.CommitAsync(ct).ConfigureAwait(false);
                return true;
            },
            cancellationToken);

    private async Task<bool> HoldsTinyChatAsync(CancellationToken cancellationToken)
    {
        try
        {
            await using var connection = await store.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            return await PostgresStore.ScalarAsync(connection, "SELECT to_regclass('schema_version') IS NOT NULL", cancellationToken).ConfigureAwait(false) is true;
        }
        catch (NpgsqlException ex)
        {
            throw new StorageException($"the database {store.Location} cannot be used: {PostgresStore.FirstLine(ex.Message)}", ex);
        }
    }

    private long NowMs() => time.GetUtcNow().ToUnixTimeMilliseconds();

    private static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);
}
