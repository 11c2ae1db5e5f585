using Microsoft.Extensions.Logging;
using Npgsql;
using NpgsqlTypes;
using TinyChat.Chat;

namespace TinyChat.Storage.Postgres;

/// <summary>
/// Accounts, rooms, memberships and history in one PostgreSQL database, shared by any number of TinyChat nodes.
/// Every call borrows a pooled connection; every change is one statement, so one transaction (a room's batch
/// included). A room's sequence numbers are handed out by the <c>UPDATE</c> of its <c>rooms.last_seq</c> inside
/// the inserting statement: the row lock it takes is held until the commit, so appenders to one room, on whatever
/// node, commit one after the other in the order of their numbers. Thread-safe once <see cref="OpenAsync"/> has completed.
/// </summary>
/// <remarks>
/// When the database cannot be reached, the call fails with a <see cref="StoreUnavailableException"/> and the
/// store enters an outage (<see cref="StorageAvailability"/>): further calls fail fast until a background probe
/// reaches the database again. A failed call was not confirmed: an append may or may not have committed, and is
/// never acknowledged.
/// </remarks>
public sealed class PostgresStore : IDurableStore, IAsyncDisposable
{
    // Rows one prune statement may delete: keeps each prune transaction (and the locks it holds) short.
    private const int PruneBudget = 2000;

    // Numbers the batch from last_seq + 1 and inserts it, in one statement; no row when the room does not exist.
    private const string AppendSql =
        """
        WITH room AS (
            UPDATE rooms SET last_seq = last_seq + cardinality($2::text[]) WHERE name = $1
            RETURNING id, last_seq - cardinality($2::text[]) AS base),
        stored AS (
            INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms)
            SELECT room.id, room.base + m.n, m.sender, m.body, m.at
            FROM room, unnest($2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY AS m (sender, body, at, n)),
        mentioned AS (
            INSERT INTO mentions (username, room_id, seq)
            SELECT x.username, room.id, room.base + x.n FROM room, unnest($5::text[], $6::bigint[]) AS x (username, n)
            ON CONFLICT DO NOTHING)
        SELECT base + 1 FROM room
        """;

    private readonly PostgresStoreSettings settings;
    private readonly TimeProvider time;
    private readonly ILogger<PostgresStore> logger;
    private readonly NpgsqlDataSource dataSource;
    private readonly StorageAvailability availability;
    private volatile bool open;
    private int closed;

    /// <summary>Creates the store; nothing connects before <see cref="OpenAsync"/>.</summary>
    public PostgresStore(PostgresStoreSettings settings, TimeProvider time, ILogger<PostgresStore> logger)
    {
        this.settings = settings;
        this.time = time;
        this.logger = logger;
        var builder = new NpgsqlConnectionStringBuilder(settings.ConnectionString);
        Location = PostgresStoreSettings.Describe(builder);

        // The same few statements run all day: let Npgsql prepare them on each pooled connection.
        if (builder.MaxAutoPrepare == 0)
        {
            builder.MaxAutoPrepare = 32;
        }

        builder.ApplicationName ??= "tinychat";
        dataSource = new NpgsqlDataSourceBuilder(builder.ConnectionString).Build();
        availability = new StorageAvailability(StorageOptions.Postgres, Location, ProbeAsync, time, logger);
    }

    /// <inheritdoc />
    public string Location { get; }

    /// <inheritdoc />
    public RetentionPolicy Retention => settings.Retention;

    /// <inheritdoc />
    public StoreHealth Current => availability.Current;

    /// <summary>The pool, for <see cref="PostgresImport"/>.</summary>
    internal NpgsqlDataSource DataSource => dataSource;

    /// <summary>Whether <see cref="OpenAsync"/> has completed (and the store was not closed since).</summary>
    internal bool IsOpen => open;

    /// <summary>The outage tracker (tests wait on its recovery).</summary>
    internal StorageAvailability Availability => availability;

    /// <summary>
    /// Connects, refuses a database it must not touch (newer schema, foreign tables) with a
    /// <see cref="StorageException"/> naming host, port and database, and migrates it to the current schema.
    /// </summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        if (open)
        {
            throw new InvalidOperationException("the store is already open");
        }

        int found;
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            found = await PostgresSchema.MigrateAsync(connection, Location, cancellationToken).ConfigureAwait(false);
        }
        catch (NpgsqlException ex)
        {
            throw new StorageException($"the database {Location} cannot be used: {FirstLine(ex.Message)}", ex);
        }

        if (found != PostgresSchema.CurrentVersion)
        {
            logger.LogInformation("Migrated {Location} from schema version {From} to {To}", Location, found, PostgresSchema.CurrentVersion);
        }

        open = true;
        logger.LogInformation("Opened PostgreSQL {Location} (schema version {Version})", Location, PostgresSchema.CurrentVersion);
    }

    /// <summary>Releases the pool; every call that returned had committed already. Idempotent.</summary>
    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref closed, 1) == 1)
        {
            return;
        }

        open = false;
        await availability.DisposeAsync().ConfigureAwait(false);
        await dataSource.DisposeAsync().ConfigureAwait(false);
        logger.LogInformation("Closed PostgreSQL {Location}", Location);
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => new(CloseAsync(CancellationToken.None));

    /// <inheritdoc />
    public async Task<int> PruneAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var policy = settings.Retention;
        if (!policy.IsLimited)
        {
            return 0;
        }

        return await RunAsync(
            async (connection, ct) =>
            {
                var total = 0;
                if (policy.MaxAge > TimeSpan.Zero)
                {
                    var cutoff = (now - policy.MaxAge).ToUnixTimeMilliseconds();
                    total += await PruneByAgeAsync(connection, "room_messages", cutoff, ct).ConfigureAwait(false);
                    total += await PruneByAgeAsync(connection, "private_messages", cutoff, ct).ConfigureAwait(false);
                }

                if (policy.MaxMessagesPerRoom > 0)
                {
                    total += await PruneByCountAsync(connection, policy.MaxMessagesPerRoom, ct).ConfigureAwait(false);
                }

                return total;
            },
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<string?> AuthenticateAsync(string token, CancellationToken cancellationToken)
    {
        // Looked up by hash: the timing of an index search reveals nothing usable about the token itself.
        var hash = TokenHash.Of(token);
        return RunAsync(
            async (connection, ct) => await ScalarAsync(connection, "SELECT username FROM accounts WHERE token_hash = $1 ORDER BY username LIMIT 1", ct, hash).ConfigureAwait(false) as string,
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<bool> TryCreateAsync(string username, string token, CancellationToken cancellationToken)
    {
        var hash = TokenHash.Of(token);
        var now = NowMs();
        return RunAsync(
            async (connection, ct) => await ExecuteAsync(
                connection,
                "INSERT INTO accounts (username, token_hash, created_at_ms) VALUES ($1, $2, $3) ON CONFLICT (username) DO NOTHING",
                ct,
                username,
                hash,
                now).ConfigureAwait(false) == 1,
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<InvitedSignUp> TryCreateWithInviteAsync(string username, string token, string invite, CancellationToken cancellationToken)
    {
        var hash = TokenHash.Of(token);
        var inviteHash = TokenHash.Of(invite);
        var now = NowMs();
        return RunAsync(
            async (connection, ct) =>
            {
                // Name first, as every store decides it. The UPDATE locks the code's row: a racing registration for the same
                // code waits for it, then sees the use taken.
                await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
                await using (var create = new NpgsqlCommand("INSERT INTO accounts (username, token_hash, created_at_ms) VALUES ($1, $2, $3) ON CONFLICT (username) DO NOTHING", connection, transaction))
                {
                    create.Parameters.Add(new NpgsqlParameter<string> { TypedValue = username });
                    create.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = hash });
                    create.Parameters.Add(new NpgsqlParameter<long> { TypedValue = now });
                    if (await create.ExecuteNonQueryAsync(ct).ConfigureAwait(false) != 1)
                    {
                        return InvitedSignUp.NameTaken;
                    }
                }

                await using (var use = new NpgsqlCommand("UPDATE invites SET uses_left = uses_left - 1 WHERE code_hash = $1 AND uses_left > 0 AND expires_at_ms > $2", connection, transaction))
                {
                    use.Parameters.Add(new NpgsqlParameter<byte[]> { TypedValue = inviteHash });
                    use.Parameters.Add(new NpgsqlParameter<long> { TypedValue = now });
                    if (await use.ExecuteNonQueryAsync(ct).ConfigureAwait(false) != 1)
                    {
                        // Rolled back on dispose: no account.
                        return InvitedSignUp.InvalidInvite;
                    }
                }

                await transaction.CommitAsync(ct).ConfigureAwait(false);
                return InvitedSignUp.Created;
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask UpsertAsync(string username, string token, CancellationToken cancellationToken)
    {
        var hash = TokenHash.Of(token);
        var now = NowMs();
        await RunAsync(
            (connection, ct) => ExecuteAsync(
                connection,
                "INSERT INTO accounts (username, token_hash, created_at_ms) VALUES ($1, $2, $3) ON CONFLICT (username) DO UPDATE SET token_hash = excluded.token_hash",
                ct,
                username,
                hash,
                now),
            cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<bool> ExistsAsync(string username, CancellationToken cancellationToken) =>
        RunAsync(async (connection, ct) => await ScalarAsync(connection, "SELECT 1 FROM accounts WHERE username = $1", ct, username).ConfigureAwait(false) is not null, cancellationToken);

    /// <inheritdoc />
    ValueTask<bool> IRoomStore.TryCreateAsync(string room, CancellationToken cancellationToken) =>
        ((IRoomStore)this).TryCreateAsync(room, null, false, cancellationToken);

    /// <inheritdoc />
    ValueTask<bool> IRoomStore.TryCreateAsync(string room, string? owner, bool isPrivate, CancellationToken cancellationToken)
    {
        // The unique name makes a second creator wait for the first one's commit, then insert nothing: one success.
        var now = NowMs();
        return RunAsync(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(
                    "INSERT INTO rooms (name, last_seq, created_at_ms, owner, private) VALUES ($1, 0, $2, $3, $4) ON CONFLICT (name) DO NOTHING",
                    connection);
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = room });
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = now });
                command.Parameters.Add(new NpgsqlParameter { Value = (object?)owner ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
                command.Parameters.Add(new NpgsqlParameter<bool> { TypedValue = isPrivate });
                return await command.ExecuteNonQueryAsync(ct).ConfigureAwait(false) == 1;
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<RoomAccess?> AccessAsync(string room, CancellationToken cancellationToken) =>
        RunAsync(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(
                    """
                    SELECT r.private, r.owner, r.topic, s.username, s.standing, s.until_ms
                    FROM rooms r LEFT JOIN room_standings s ON s.room_id = r.id WHERE r.name = $1
                    """,
                    connection);
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = room });
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                var found = false;
                bool isPrivate = false;
                string? owner = null, topic = null;
                var rows = new List<(string, string, long?)>();
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    found = true;
                    isPrivate = reader.GetBoolean(0);
                    owner = reader.IsDBNull(1) ? null : reader.GetString(1);
                    topic = reader.IsDBNull(2) ? null : reader.GetString(2);
                    if (!reader.IsDBNull(3))
                    {
                        rows.Add((reader.GetString(3), reader.GetString(4), reader.IsDBNull(5) ? null : reader.GetInt64(5)));
                    }
                }

                return found ? RoomStandings.Build(isPrivate, owner, topic, rows) : null;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> PrivateRoomsAsync(CancellationToken cancellationToken) =>
        RunAsync((connection, ct) => StringsAsync(connection, "SELECT name FROM rooms WHERE private ORDER BY name", ct), cancellationToken);

    /// <inheritdoc />
    public ValueTask<RoomMessage?> FindRoomMessageAsync(string room, long id, CancellationToken cancellationToken) =>
        RunAsync(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(
                    $"SELECT {RoomColumns} FROM room_messages WHERE room_id = (SELECT id FROM rooms WHERE name = $1) AND seq = $2",
                    connection);
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = room });
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = id });
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                return await reader.ReadAsync(ct).ConfigureAwait(false) ? ReadRoomMessage(room, reader) : null;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<int> CountOwnedAsync(string owner, CancellationToken cancellationToken) =>
        RunAsync(async (connection, ct) => Convert.ToInt32(await ScalarAsync(connection, "SELECT count(*) FROM rooms WHERE owner = $1", ct, owner).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture), cancellationToken);

    /// <inheritdoc />
    ValueTask<bool> IRoomStore.ExistsAsync(string room, CancellationToken cancellationToken) =>
        RunAsync(async (connection, ct) => await ScalarAsync(connection, "SELECT 1 FROM rooms WHERE name = $1", ct, room).ConfigureAwait(false) is not null, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) =>
        RunAsync((connection, ct) => StringsAsync(connection, "SELECT name FROM rooms ORDER BY name", ct), cancellationToken);

    /// <inheritdoc />
    public ValueTask<bool> AddMemberAsync(string room, string user, CancellationToken cancellationToken) =>
        RunAsync(
            // A member starts having read everything before the join, in the statement that records the membership.
            async (connection, ct) => await ScalarAsync(
                connection,
                """
                WITH member AS (
                    INSERT INTO memberships (room_id, username) SELECT id, $2 FROM rooms WHERE name = $1 ON CONFLICT DO NOTHING RETURNING room_id),
                position AS (
                    INSERT INTO room_reads (username, room_id, seq) SELECT $2, r.id, r.last_seq FROM member JOIN rooms r ON r.id = member.room_id
                    ON CONFLICT (username, room_id) DO UPDATE SET seq = GREATEST(room_reads.seq, excluded.seq))
                SELECT count(*) FROM member
                """,
                ct,
                room,
                user).ConfigureAwait(false) is 1L,
            cancellationToken);

    /// <inheritdoc />
    public async ValueTask<bool[]> AddMembersAsync(string room, IReadOnlyList<string> users, CancellationToken cancellationToken) =>
        await Task.WhenAll(users.Select(user => AddMemberAsync(room, user, cancellationToken).AsTask())).ConfigureAwait(false);

    /// <inheritdoc />
    public ValueTask<bool> RemoveMemberAsync(string room, string user, CancellationToken cancellationToken) =>
        RunAsync(
            async (connection, ct) => await ExecuteAsync(
                connection,
                "DELETE FROM memberships WHERE room_id = (SELECT id FROM rooms WHERE name = $1) AND username = $2",
                ct,
                room,
                user).ConfigureAwait(false) == 1,
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> MembersAsync(string room, CancellationToken cancellationToken) =>
        RunAsync(
            (connection, ct) => StringsAsync(
                connection,
                "SELECT m.username FROM memberships m JOIN rooms r ON r.id = m.room_id WHERE r.name = $1 ORDER BY m.username",
                ct,
                room),
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> RoomsOfAsync(string user, CancellationToken cancellationToken) =>
        RunAsync(
            (connection, ct) => StringsAsync(
                connection,
                "SELECT r.name FROM memberships m JOIN rooms r ON r.id = m.room_id WHERE m.username = $1 ORDER BY r.name",
                ct,
                user),
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<long> LastRoomIdAsync(string room, CancellationToken cancellationToken) =>
        RunAsync(async (connection, ct) => await ScalarAsync(connection, "SELECT last_seq FROM rooms WHERE name = $1", ct, room).ConfigureAwait(false) as long? ?? 0L, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<long> AppendRoomMessagesAsync(string room, IReadOnlyList<NewRoomMessage> messages, CancellationToken cancellationToken)
    {
        if (messages.Any(m => m.Kind is not null))
        {
            return await AppendEventsAsync(room, messages, cancellationToken).ConfigureAwait(false);
        }

        var senders = new string[messages.Count];
        var bodies = new string[messages.Count];
        var times = new long[messages.Count];
        var mentioned = new List<string>();
        var mentionedAt = new List<long>();
        for (var i = 0; i < messages.Count; i++)
        {
            senders[i] = messages[i].From;
            bodies[i] = messages[i].Text;
            times[i] = messages[i].Timestamp.ToUnixTimeMilliseconds();
            foreach (var user in messages[i].Mentions)
            {
                mentioned.Add(user);
                mentionedAt.Add(i + 1);
            }
        }

        var first = await RunAsync(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(AppendSql, connection);
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = room });
                command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = senders, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
                command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = bodies, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
                command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = times, NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
                command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. mentioned], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
                command.Parameters.Add(new NpgsqlParameter<long[]> { TypedValue = [.. mentionedAt], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Bigint });
                return await command.ExecuteScalarAsync(ct).ConfigureAwait(false) as long?;
            },
            cancellationToken).ConfigureAwait(false);
        return first ?? throw new InvalidOperationException($"room {room} does not exist in the store");
    }

    // Rare (a moderator acted, an author edited): one transaction that numbers the rows under the room row's
    // lock, as the plain append does, and applies each event as it is stored.
    private async Task<long> AppendEventsAsync(string room, IReadOnlyList<NewRoomMessage> messages, CancellationToken cancellationToken)
    {
        var first = await RunAsync(
            async (connection, ct) =>
            {
                await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
                long roomId, firstSeq;
                await using (var number = new NpgsqlCommand("UPDATE rooms SET last_seq = last_seq + $2 WHERE name = $1 RETURNING id, last_seq - $2 + 1", connection, transaction))
                {
                    number.Parameters.Add(new NpgsqlParameter<string> { TypedValue = room });
                    number.Parameters.Add(new NpgsqlParameter<long> { TypedValue = messages.Count });
                    await using var reader = await number.ExecuteReaderAsync(ct).ConfigureAwait(false);
                    if (!await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        return (long?)null;
                    }

                    roomId = reader.GetInt64(0);
                    firstSeq = reader.GetInt64(1);
                }

                for (var i = 0; i < messages.Count; i++)
                {
                    await InsertEventAsync(connection, transaction, roomId, firstSeq + i, messages[i], ct).ConfigureAwait(false);
                    foreach (var user in messages[i].Mentions)
                    {
                        await using var mention = new NpgsqlCommand("INSERT INTO mentions (username, room_id, seq) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING", connection, transaction);
                        mention.Parameters.Add(new NpgsqlParameter<string> { TypedValue = user });
                        mention.Parameters.Add(new NpgsqlParameter<long> { TypedValue = roomId });
                        mention.Parameters.Add(new NpgsqlParameter<long> { TypedValue = firstSeq + i });
                        await mention.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                    }
                }

                await transaction.CommitAsync(ct).ConfigureAwait(false);
                return firstSeq;
            },
            cancellationToken).ConfigureAwait(false);
        return first ?? throw new InvalidOperationException($"room {room} does not exist in the store");
    }

    private static async Task InsertEventAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, long roomId, long seq, NewRoomMessage e, CancellationToken cancellationToken)
    {
        async Task RunAsync(string sql, params object?[] values)
        {
            await using var command = new NpgsqlCommand(sql, connection, transaction);
            foreach (var value in values)
            {
                command.Parameters.Add(value is null ? new NpgsqlParameter { Value = DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text } : new NpgsqlParameter { Value = value });
            }

            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await using (var insert = new NpgsqlCommand(
            "INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms, kind, target, refers_to, until_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            connection,
            transaction))
        {
            insert.Parameters.Add(new NpgsqlParameter<long> { TypedValue = roomId });
            insert.Parameters.Add(new NpgsqlParameter<long> { TypedValue = seq });
            insert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = e.From });
            insert.Parameters.Add(new NpgsqlParameter<string> { TypedValue = e.Text });
            insert.Parameters.Add(new NpgsqlParameter<long> { TypedValue = e.Timestamp.ToUnixTimeMilliseconds() });
            insert.Parameters.Add(new NpgsqlParameter { Value = (object?)e.Kind ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            insert.Parameters.Add(new NpgsqlParameter { Value = (object?)e.Target ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            insert.Parameters.Add(new NpgsqlParameter { Value = (object?)e.RefersTo ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
            insert.Parameters.Add(new NpgsqlParameter { Value = (object?)e.Until?.ToUnixTimeMilliseconds() ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
            await insert.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var refersTo = e.RefersTo ?? 0;
        switch (e.Kind)
        {
            case null:
                return;
            case RoomEventKind.Edit:
                await RunAsync("UPDATE room_messages SET body = $3, edited_at_ms = $4 WHERE room_id = $1 AND seq = $2 AND kind IS NULL", roomId, refersTo, e.Text, e.Timestamp.ToUnixTimeMilliseconds()).ConfigureAwait(false);
                return;
            case RoomEventKind.Delete:
                await RunAsync("UPDATE room_messages SET body = '', deleted = true WHERE room_id = $1 AND seq = $2 AND kind IS NULL", roomId, refersTo).ConfigureAwait(false);
                await RunAsync("UPDATE room_messages SET body = '' WHERE room_id = $1 AND refers_to = $2 AND kind = 'edit'", roomId, refersTo).ConfigureAwait(false);
                return;
            case RoomEventKind.Topic:
                await RunAsync("UPDATE rooms SET topic = $2 WHERE id = $1", roomId, e.Text.Length == 0 ? null : e.Text).ConfigureAwait(false);
                return;
        }

        var (add, until, remove, endsMembership) = RoomStandings.EffectOf(e);
        var target = e.Target ?? "";
        if (add is not null)
        {
            await using var command = new NpgsqlCommand(
                "INSERT INTO room_standings (room_id, username, standing, until_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (room_id, username, standing) DO UPDATE SET until_ms = excluded.until_ms",
                connection,
                transaction);
            command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = roomId });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = target });
            command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = add });
            command.Parameters.Add(new NpgsqlParameter { Value = (object?)until ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Bigint });
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        foreach (var standing in remove)
        {
            await RunAsync("DELETE FROM room_standings WHERE room_id = $1 AND username = $2 AND standing = $3", roomId, target, standing).ConfigureAwait(false);
        }

        if (endsMembership)
        {
            await RunAsync("DELETE FROM memberships WHERE room_id = $1 AND username = $2", roomId, target).ConfigureAwait(false);
        }
    }

    private const string RoomColumns = "seq, sender, body, sent_at_ms, kind, target, refers_to, until_ms, edited_at_ms, deleted";

    private static RoomMessage ReadRoomMessage(string room, NpgsqlDataReader reader) =>
        reader.IsDBNull(4) && reader.IsDBNull(8) && !reader.GetBoolean(9)
            ? new RoomMessage(room, reader.GetString(1), reader.GetString(2), reader.GetInt64(0), FromMs(reader.GetInt64(3)))
            : RoomStandings.Message(
                room,
                reader.GetInt64(0),
                reader.GetString(1),
                reader.GetString(2),
                reader.GetInt64(3),
                reader.IsDBNull(4) ? null : reader.GetString(4),
                reader.IsDBNull(5) ? null : reader.GetString(5),
                reader.IsDBNull(6) ? null : reader.GetInt64(6),
                reader.IsDBNull(7) ? null : reader.GetInt64(7),
                reader.IsDBNull(8) ? null : reader.GetInt64(8),
                reader.GetBoolean(9));

    /// <inheritdoc />
    public ValueTask<long> AppendPrivateMessageAsync(string from, string to, string text, DateTimeOffset timestamp, CancellationToken cancellationToken)
    {
        var at = timestamp.ToUnixTimeMilliseconds();
        return RunAsync(
            async (connection, ct) => (long)(await ScalarAsync(
                connection,
                "INSERT INTO private_messages (sender, recipient, body, sent_at_ms) VALUES ($1, $2, $3, $4) RETURNING id",
                ct,
                from,
                to,
                text,
                at).ConfigureAwait(false))!,
            cancellationToken);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<RoomMessage>> RoomHistoryAsync(string room, HistoryQuery query, CancellationToken cancellationToken) =>
        RunAsync<IReadOnlyList<RoomMessage>>(
            async (connection, ct) =>
            {
                var (where, order) = Page(query, "seq", 2);
                await using var command = new NpgsqlCommand(
                    $"SELECT {RoomColumns} FROM room_messages " +
                    $"WHERE room_id = (SELECT id FROM rooms WHERE name = $1) AND {where} ORDER BY seq {order} LIMIT $3",
                    connection);
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = room });
                AddPage(command, query);
                var page = new List<RoomMessage>();
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    page.Add(ReadRoomMessage(room, reader));
                }

                return OldestFirst(page, query);
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<PrivateMessage>> PrivateHistoryAsync(string user, string other, HistoryQuery query, CancellationToken cancellationToken) =>
        RunAsync<IReadOnlyList<PrivateMessage>>(
            async (connection, ct) =>
            {
                var (where, order) = Page(query, "id", 3);

                // Spelled exactly as in the index private_messages_by_pair, so PostgreSQL uses it.
                await using var command = new NpgsqlCommand(
                    "SELECT id, sender, recipient, body, sent_at_ms FROM private_messages " +
                    $"WHERE least(sender, recipient) = $1 AND greatest(sender, recipient) = $2 AND {where} ORDER BY id {order} LIMIT $4",
                    connection);
                var userFirst = string.CompareOrdinal(user, other) <= 0;
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = userFirst ? user : other });
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = userFirst ? other : user });
                AddPage(command, query);
                var page = new List<PrivateMessage>();
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    page.Add(new PrivateMessage(reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(0), FromMs(reader.GetInt64(4))));
                }

                return OldestFirst(page, query);
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<long> LastPrivateIdAsync(CancellationToken cancellationToken) =>
        RunAsync(
            // The identity's sequence, not max(id): it never goes back when the newest rows are pruned. NULL until
            // it hands out its first id (a fresh table, or an import of none).
            async (connection, ct) => await ScalarAsync(
                connection,
                "SELECT pg_sequence_last_value(pg_get_serial_sequence('private_messages', 'id')::regclass)",
                ct).ConfigureAwait(false) as long? ?? 0L,
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<PrivateMessage>> PrivateMessagesOfAsync(string user, long after, int limit, CancellationToken cancellationToken) =>
        RunAsync<IReadOnlyList<PrivateMessage>>(
            async (connection, ct) =>
            {
                // A walk of the primary key from the position on: a catch-up reads what came since, not the table.
                await using var command = new NpgsqlCommand(
                    "SELECT id, sender, recipient, body, sent_at_ms FROM private_messages " +
                    "WHERE id > $1 AND (sender = $2 OR recipient = $2) ORDER BY id LIMIT $3",
                    connection);
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = after });
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = user });
                command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
                var page = new List<PrivateMessage>();
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    page.Add(new PrivateMessage(reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(0), FromMs(reader.GetInt64(4))));
                }

                return page;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<long> MarkRoomReadAsync(string user, string room, long id, CancellationToken cancellationToken) =>
        RunAsync(
            async (connection, ct) => await ScalarAsync(
                connection,
                """
                INSERT INTO room_reads (username, room_id, seq) SELECT $1, id, $3 FROM rooms WHERE name = $2
                ON CONFLICT (username, room_id) DO UPDATE SET seq = GREATEST(room_reads.seq, excluded.seq) RETURNING seq
                """,
                ct,
                user,
                room,
                id).ConfigureAwait(false) as long? ?? 0L,
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<long> MarkPrivateReadAsync(string user, string other, long id, CancellationToken cancellationToken) =>
        RunAsync(
            async (connection, ct) => (long)(await ScalarAsync(
                connection,
                """
                INSERT INTO private_reads (username, other, id) VALUES ($1, $2, $3)
                ON CONFLICT (username, other) DO UPDATE SET id = GREATEST(private_reads.id, excluded.id) RETURNING id
                """,
                ct,
                user,
                other,
                id).ConfigureAwait(false))!,
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<RoomReadState>> RoomReadStatesAsync(string user, IReadOnlyList<string> rooms, CancellationToken cancellationToken) =>
        RunAsync<IReadOnlyList<RoomReadState>>(
            async (connection, ct) =>
            {
                // Per room: the position (a member without one has read up to the newest message), then two counts that
                // stop at the cap, each a range of an index from the position on. One statement for all the rooms.
                await using var command = new NpgsqlCommand(
                    $"""
                    SELECT r.name, p.seq,
                        (SELECT count(*) FROM (SELECT 1 FROM room_messages m
                            WHERE m.room_id = r.id AND m.seq > p.seq AND m.kind IS NULL AND NOT m.deleted AND m.sender <> $1
                            LIMIT {IReadingStore.CountCap}) u),
                        (SELECT count(*) FROM (SELECT 1 FROM mentions mn JOIN room_messages m ON m.room_id = mn.room_id AND m.seq = mn.seq
                            WHERE mn.username = $1 AND mn.room_id = r.id AND mn.seq > p.seq AND NOT m.deleted
                            LIMIT {IReadingStore.CountCap}) x)
                    FROM rooms r
                    LEFT JOIN room_reads rr ON rr.username = $1 AND rr.room_id = r.id
                    CROSS JOIN LATERAL (SELECT coalesce(rr.seq, r.last_seq) AS seq) p
                    WHERE r.name = ANY($2)
                    """,
                    connection);
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = user });
                command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. rooms], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
                var found = new Dictionary<string, RoomReadState>(StringComparer.Ordinal);
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    var name = reader.GetString(0);
                    found[name] = new RoomReadState(name, reader.GetInt64(1), (int)reader.GetInt64(2), (int)reader.GetInt64(3));
                }

                return [.. rooms.Where(found.ContainsKey).Select(room => found[room])];
            },
            cancellationToken);

    private static readonly string ConversationSql =
        $"""
        SELECT c.other, c.last_id, c.last_at_ms, p.id,
            CASE WHEN c.other = c.username THEN 0 ELSE (SELECT count(*) FROM (SELECT 1 FROM private_messages m
                WHERE least(m.sender, m.recipient) = least(c.username, c.other) AND greatest(m.sender, m.recipient) = greatest(c.username, c.other)
                    AND m.id > p.id AND m.sender = c.other
                LIMIT {IReadingStore.CountCap}) u) END
        FROM conversations c
        LEFT JOIN private_reads pr ON pr.username = c.username AND pr.other = c.other
        CROSS JOIN LATERAL (SELECT coalesce(pr.id, 0) AS id) p
        """;

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<ConversationState>> ConversationsAsync(string user, int limit, CancellationToken cancellationToken) =>
        RunAsync<IReadOnlyList<ConversationState>>(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(ConversationSql + " WHERE c.username = $1 ORDER BY c.last_id DESC LIMIT $2", connection);
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = user });
                command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
                var list = new List<ConversationState>();
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    list.Add(ReadConversation(reader));
                }

                return list;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<ConversationState> ConversationAsync(string user, string other, CancellationToken cancellationToken) =>
        RunAsync(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(ConversationSql + " WHERE c.username = $1 AND c.other = $2", connection);
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = user });
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = other });
                await using (var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false))
                {
                    if (await reader.ReadAsync(ct).ConfigureAwait(false))
                    {
                        return ReadConversation(reader);
                    }
                }

                var read = await ScalarAsync(connection, "SELECT id FROM private_reads WHERE username = $1 AND other = $2", ct, user, other).ConfigureAwait(false) as long? ?? 0L;
                return new ConversationState(other, 0, DateTimeOffset.UnixEpoch, read, 0);
            },
            cancellationToken);

    private static ConversationState ReadConversation(NpgsqlDataReader reader) =>
        new(reader.GetString(0), reader.GetInt64(1), FromMs(reader.GetInt64(2)), reader.GetInt64(3), (int)reader.GetInt64(4));

    /// <summary>The tsquery text of the core's parsed terms: words of letters and digits only, so nothing needs escaping.</summary>
    internal static string TsQuery(SearchQuery query) =>
        string.Join(" & ", query.Terms.Select(t =>
            t.Words.Count == 1 ? t.Words[0] + (t.Prefix ? ":*" : "") : "(" + string.Join(" <-> ", t.Words) + ")"));

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<RoomSearchHit>> SearchRoomsAsync(IReadOnlyList<string> rooms, SearchQuery query, long below, int limit, CancellationToken cancellationToken) =>
        RunAsync<IReadOnlyList<RoomSearchHit>>(
            async (connection, ct) =>
            {
                // The GIN index finds the matches; the core's rooms filter them; the matches are sorted newest first.
                // "id + 0": ordered by the key itself, the planner may walk the primary key backwards hoping to meet
                // enough matches early, which reads the whole table when there are few; this way it never can.
                await using var command = new NpgsqlCommand(
                    """
                    SELECT m.id, r.name, m.seq, m.sender, m.body, m.sent_at_ms, m.edited_at_ms
                    FROM room_messages m JOIN rooms r ON r.id = m.room_id
                    WHERE m.search @@ to_tsquery('simple', $1) AND r.name = ANY($2) AND m.id < $3
                    ORDER BY m.id + 0 DESC LIMIT $4
                    """,
                    connection);
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = TsQuery(query) });
                command.Parameters.Add(new NpgsqlParameter<string[]> { TypedValue = [.. rooms], NpgsqlDbType = NpgsqlDbType.Array | NpgsqlDbType.Text });
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = below });
                command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
                var hits = new List<RoomSearchHit>();
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    var message = new RoomMessage(reader.GetString(1), reader.GetString(3), reader.GetString(4), reader.GetInt64(2), FromMs(reader.GetInt64(5)))
                    {
                        EditedAt = reader.IsDBNull(6) ? null : FromMs(reader.GetInt64(6)),
                    };
                    hits.Add(new RoomSearchHit(reader.GetInt64(0), message));
                }

                return hits;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<PrivateSearchHit>> SearchPrivateAsync(string user, SearchQuery query, long below, int limit, CancellationToken cancellationToken) =>
        RunAsync<IReadOnlyList<PrivateSearchHit>>(
            async (connection, ct) =>
            {
                await using var command = new NpgsqlCommand(
                    """
                    SELECT id, sender, recipient, body, sent_at_ms FROM private_messages
                    WHERE search @@ to_tsquery('simple', $1) AND (sender = $2 OR recipient = $2) AND id < $3
                    ORDER BY id + 0 DESC LIMIT $4
                    """,
                    connection);
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = TsQuery(query) });
                command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = user });
                command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = below });
                command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = limit });
                var hits = new List<PrivateSearchHit>();
                await using var reader = await command.ExecuteReaderAsync(ct).ConfigureAwait(false);
                while (await reader.ReadAsync(ct).ConfigureAwait(false))
                {
                    hits.Add(new PrivateSearchHit(new PrivateMessage(reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(0), FromMs(reader.GetInt64(4)))));
                }

                return hits;
            },
            cancellationToken);

    /// <summary>Whether a failure means the database cannot be reached (an outage) rather than a bad request.</summary>
    internal static bool IsOutage(Exception ex, CancellationToken cancellationToken) => ex switch
    {
        OperationCanceledException when cancellationToken.IsCancellationRequested => false,

        // Connection exceptions, shutdown and start-up, too many connections, the database or the login gone.
        PostgresException pg => pg.SqlState.StartsWith("08", StringComparison.Ordinal)
            || pg.SqlState is "57P01" or "57P02" or "57P03" or "53300" or "3D000" or "28000" or "28P01",

        // Raised by Npgsql itself: cannot connect, connection broken, timed out.
        NpgsqlException => true,
        TimeoutException => true,
        _ => false,
    };

    /// <summary>
    /// Runs <paramref name="work"/> on a pooled connection; an unreachable database throws a
    /// <see cref="StoreUnavailableException"/> and starts an outage, during which calls fail fast.
    /// </summary>
    internal async ValueTask<T> RunAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        if (!open)
        {
            throw new InvalidOperationException("the store is not open");
        }

        availability.ThrowIfUnavailable();
        try
        {
            await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
            return await work(connection, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsOutage(ex, cancellationToken))
        {
            // Idle pooled connections are as dead as the one that failed: drop them now, not one failure each.
            dataSource.Clear();
            throw availability.Lost(ex);
        }
    }

    private async Task ProbeAsync(CancellationToken cancellationToken)
    {
        dataSource.Clear();
        await using var connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand("SELECT 1", connection);
        await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    private long NowMs() => time.GetUtcNow().ToUnixTimeMilliseconds();

    // Rows are in insertion order, which is time order give or take a clock step, so the old rows form a prefix
    // of the table: find where it ends and delete only inside it. Costs the size of that prefix, never a scan of
    // the whole table. A straggler past the prefix goes on a later run.
    private static async Task<int> PruneByAgeAsync(NpgsqlConnection connection, string table, long cutoff, CancellationToken cancellationToken)
    {
        var total = 0;
        int deleted;
        do
        {
            deleted = await ExecuteAsync(
                connection,
                $"""
                DELETE FROM {table} WHERE id IN (
                    SELECT id FROM {table}
                    WHERE id < coalesce((SELECT id FROM {table} WHERE sent_at_ms >= $1 ORDER BY id LIMIT 1), 9223372036854775807)
                    ORDER BY id LIMIT $2)
                """,
                cancellationToken,
                cutoff,
                PruneBudget).ConfigureAwait(false);
            total += deleted;
        }
        while (deleted == PruneBudget);

        return total;
    }

    private static async Task<int> PruneByCountAsync(NpgsqlConnection connection, int keep, CancellationToken cancellationToken)
    {
        var over = new List<(long RoomId, long UpTo)>();
        await using (var rooms = new NpgsqlCommand("SELECT id, last_seq - $1 FROM rooms WHERE last_seq > $1", connection))
        {
            rooms.Parameters.Add(new NpgsqlParameter<long> { TypedValue = keep });
            await using var reader = await rooms.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                over.Add((reader.GetInt64(0), reader.GetInt64(1)));
            }
        }

        var total = 0;
        foreach (var (roomId, upTo) in over)
        {
            int deleted;
            do
            {
                deleted = await ExecuteAsync(
                    connection,
                    "DELETE FROM room_messages WHERE id IN (SELECT id FROM room_messages WHERE room_id = $1 AND seq <= $2 ORDER BY seq LIMIT $3)",
                    cancellationToken,
                    roomId,
                    upTo,
                    PruneBudget).ConfigureAwait(false);
                total += deleted;
            }
            while (deleted == PruneBudget);
        }

        return total;
    }

    /// <summary>A command whose parameters are <paramref name="values"/> as $1, $2, ... in order.</summary>
    internal static NpgsqlCommand Command(NpgsqlConnection connection, string sql, object[] values)
    {
        var command = new NpgsqlCommand(sql, connection);
        foreach (var value in values)
        {
            command.Parameters.Add(new NpgsqlParameter { Value = value });
        }

        return command;
    }

    /// <summary>Runs a statement; returns the rows it changed.</summary>
    internal static async Task<int> ExecuteAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params object[] values)
    {
        await using var command = Command(connection, sql, values);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs a query; returns the first column of its first row (null when none).</summary>
    internal static async Task<object?> ScalarAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params object[] values)
    {
        await using var command = Command(connection, sql, values);
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
    }

    private static async Task<IReadOnlyList<string>> StringsAsync(NpgsqlConnection connection, string sql, CancellationToken cancellationToken, params object[] values)
    {
        await using var command = Command(connection, sql, values);
        var strings = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            strings.Add(reader.GetString(0));
        }

        return strings;
    }

    // After an id: the oldest page past it, read upwards. Otherwise: the newest page below "before" (or the
    // newest of all), read downwards through the index and flipped to oldest first. The id bound is parameter
    // $<paramref name="position"/>, the limit the one after it.
    private static (string Where, string Order) Page(HistoryQuery query, string column, int position) =>
        query.After is not null ? ($"{column} > ${position}", "ASC") : ($"{column} < ${position}", "DESC");

    private static void AddPage(NpgsqlCommand command, HistoryQuery query)
    {
        command.Parameters.Add(new NpgsqlParameter<long> { TypedValue = query.After ?? query.Before ?? long.MaxValue });
        command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = Math.Max(0, query.Limit) });
    }

    private static IReadOnlyList<T> OldestFirst<T>(List<T> page, HistoryQuery query)
    {
        if (query.After is null)
        {
            page.Reverse();
        }

        return page;
    }

    private static DateTimeOffset FromMs(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    /// <summary>The first line of a (possibly multi-line) server message.</summary>
    internal static string FirstLine(string message)
    {
        var end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }
}
