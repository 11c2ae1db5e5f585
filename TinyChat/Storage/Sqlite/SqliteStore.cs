using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using TinyChat.Chat;

namespace TinyChat.Storage.Sqlite;

/// <summary>
/// Accounts, rooms, memberships and history in one SQLite file (WAL mode). Every change goes through the
/// <see cref="StorageWriter"/> (one connection, group commit); reads use pooled read-only connections, which WAL
/// lets run beside the writer. Thread-safe once <see cref="OpenAsync"/> has completed.
/// </summary>
/// <remarks>
/// When the file cannot be written (disk full, I/O error, read-only) writes fail with a
/// <see cref="StoreUnavailableException"/> and the store is in an outage (<see cref="StorageAvailability"/>,
/// <see cref="StorageOutageKind.Unwritable"/>): logged once, shown by <c>/healthz</c>, reads unaffected. Every write
/// is still tried (a refused one costs SQLite next to nothing), so posts go through again as soon as they fit; the
/// outage ends when a probe can grow the file (at most a second later).
/// </remarks>
public sealed class SqliteStore : IDurableStore, IDisposable
{
    // Rows one prune transaction may delete: keeps the writer's pause for pruning to a few milliseconds.
    private const int PruneBudget = 2000;

    private readonly SqliteStoreSettings settings;
    private readonly TimeProvider time;
    private readonly ILogger<SqliteStore> logger;
    private readonly string writeConnectionString;
    private readonly string readConnectionString;
    private readonly StorageAvailability availability;
    private StorageWriter? writer;
    private FileStream? lockFile;
    private bool closed;

    /// <summary>Creates the store; nothing touches the disk before <see cref="OpenAsync"/>.</summary>
    public SqliteStore(SqliteStoreSettings settings, TimeProvider time, ILogger<SqliteStore> logger)
    {
        this.settings = settings;
        this.time = time;
        this.logger = logger;

        // The writer's connection is not pooled: it lives as long as the store. Readers are pooled, read-only.
        writeConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = settings.DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = false,
        }.ToString();
        readConnectionString = new SqliteConnectionStringBuilder
        {
            DataSource = settings.DatabasePath,
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = true,
        }.ToString();
        availability = new StorageAvailability(StorageOptions.Sqlite, settings.DatabasePath, ProbeAsync, time, logger, StorageOutageKind.Unwritable);
    }

    /// <summary>The database file.</summary>
    public string DatabasePath => settings.DatabasePath;

    /// <inheritdoc />
    public string Location => settings.DatabasePath;

    /// <inheritdoc />
    public StoreHealth Current => availability.Current;

    /// <summary>Whether the file can be written (tests wait for recovery with it).</summary>
    internal StorageAvailability Availability => availability;

    /// <summary>Transactions the writer committed since the store opened.</summary>
    internal long CommittedTransactions => writer?.Transactions ?? 0;

    /// <summary>What <see cref="PruneAsync"/> keeps.</summary>
    public RetentionPolicy Retention => settings.Retention;

    /// <summary>
    /// Creates the data directory and the file if missing, refuses a file it cannot use (with a
    /// <see cref="StorageException"/> naming the file and why, leaving the file as it was), migrates it to the
    /// current schema and starts the writer.
    /// </summary>
    public async Task OpenAsync(CancellationToken cancellationToken)
    {
        if (writer is not null)
        {
            throw new InvalidOperationException("the store is already open");
        }

        var path = settings.DatabasePath;
        lockFile = LockDataFile(path);
        SqliteConnection? connection = null;
        try
        {
            connection = new SqliteConnection(writeConnectionString);
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);

            // Read before writing anything: a file that is not a (TinyChat) database must stay byte-for-byte as found.
            var found = SqliteSchema.CheckVersion(connection, path);
            Configure(connection);
            SqliteSchema.Migrate(connection, found);
            if (found != SqliteSchema.CurrentVersion)
            {
                logger.LogInformation("Migrated {Path} from schema version {From} to {To}", path, found, SqliteSchema.CurrentVersion);
            }

            writer = new StorageWriter(connection, logger, availability);
            logger.LogInformation("Opened {Path} (schema version {Version}, synchronous={Synchronous})", path, SqliteSchema.CurrentVersion, settings.Synchronous);
        }
        catch (SqliteException ex)
        {
            Release(connection);
            throw new StorageException($"{path} cannot be used: {Reason(ex)}; the file was left untouched", ex);
        }
        catch
        {
            Release(connection);
            throw;
        }
    }

    /// <summary>Commits everything queued, closes the file and releases it. Idempotent.</summary>
    public async Task CloseAsync(CancellationToken cancellationToken)
    {
        if (writer is null || closed)
        {
            return;
        }

        closed = true;

        // Idle readers go first, so the writer's connection is the last one and checkpoints the WAL as it closes.
        using (var readers = new SqliteConnection(readConnectionString))
        {
            SqliteConnection.ClearPool(readers);
        }

        await availability.DisposeAsync().ConfigureAwait(false);
        await writer.CloseAsync(cancellationToken).ConfigureAwait(false);
        lockFile?.Dispose();
        lockFile = null;
        logger.LogInformation("Closed {Path}", settings.DatabasePath);
    }

    /// <summary>Stops taking writes; the writer still commits what is queued and then releases the file.</summary>
    public void Dispose()
    {
        if (writer is null)
        {
            lockFile?.Dispose();
            return;
        }

        var file = lockFile;
        availability.Stop();
        writer.Complete();
        writer.Completion.ContinueWith(_ => file?.Dispose(), CancellationToken.None, TaskContinuationOptions.None, TaskScheduler.Default);
    }

    /// <summary>
    /// Caps the file at <paramref name="pages"/> pages, or at its size now when smaller, as a full disk would cap it
    /// (tests provoke a full disk with it); returns the cap in force.
    /// </summary>
    internal Task<long> LimitPagesAsync(long pages, CancellationToken cancellationToken) =>
        Writer.WriteAsync(s => s.LimitPages(pages), cancellationToken);

    /// <summary>Pages the file has now.</summary>
    internal Task<long> PageCountAsync(CancellationToken cancellationToken) => Writer.WriteAsync(s => s.PageCount(), cancellationToken);

    /// <summary>Deletes what the retention policy no longer keeps, in small transactions; returns how many messages.</summary>
    public async Task<int> PruneAsync(DateTimeOffset now, CancellationToken cancellationToken)
    {
        var policy = settings.Retention;
        if (!policy.IsLimited)
        {
            return 0;
        }

        var total = 0;
        int deleted;
        do
        {
            cancellationToken.ThrowIfCancellationRequested();
            deleted = await Writer.WriteAsync(s => s.Prune(policy, now, PruneBudget), cancellationToken).ConfigureAwait(false);
            total += deleted;
        }
        while (deleted == PruneBudget);

        return total;
    }

    /// <inheritdoc />
    public ValueTask<string?> AuthenticateAsync(string token, CancellationToken cancellationToken)
    {
        // Looked up by hash: the timing of an index search reveals nothing usable about the token itself.
        var hash = TokenHash.Of(token);
        return ReadAsync(
            connection => Scalar(connection, "SELECT username FROM accounts WHERE token_hash = $hash ORDER BY username LIMIT 1", ("$hash", hash)) as string,
            cancellationToken);
    }

    /// <inheritdoc />
    public async ValueTask<bool> TryCreateAsync(string username, string token, CancellationToken cancellationToken)
    {
        var hash = TokenHash.Of(token);
        var now = NowMs();
        return await Writer.WriteAsync(s => s.CreateAccount(username, hash, now), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask<InvitedSignUp> TryCreateWithInviteAsync(string username, string token, string invite, CancellationToken cancellationToken)
    {
        var hash = TokenHash.Of(token);
        var inviteHash = TokenHash.Of(invite);
        var now = NowMs();
        return await Writer.WriteAsync(s => s.CreateAccountWithInvite(username, hash, inviteHash, now), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async ValueTask UpsertAsync(string username, string token, CancellationToken cancellationToken)
    {
        var hash = TokenHash.Of(token);
        var now = NowMs();
        await Writer.WriteAsync(s => s.UpsertAccount(username, hash, now), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<bool> ExistsAsync(string username, CancellationToken cancellationToken) =>
        ReadAsync(connection => Scalar(connection, "SELECT 1 FROM accounts WHERE username = $user", ("$user", username)) is not null, cancellationToken);

    /// <inheritdoc />
    async ValueTask<bool> IRoomStore.TryCreateAsync(string room, CancellationToken cancellationToken)
    {
        var now = NowMs();
        return await Writer.WriteAsync(s => s.CreateRoom(room, now), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    async ValueTask<bool> IRoomStore.TryCreateAsync(string room, string? owner, bool isPrivate, CancellationToken cancellationToken)
    {
        var now = NowMs();
        return await Writer.WriteAsync(s => s.CreateRoom(room, now, owner, isPrivate), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<RoomAccess?> AccessAsync(string room, CancellationToken cancellationToken) =>
        ReadAsync(
            connection =>
            {
                using var command = connection.CreateCommand();
                command.CommandText = "SELECT id, private, owner, topic FROM rooms WHERE name = $room";
                command.Parameters.AddWithValue("$room", room);
                long id;
                bool isPrivate;
                string? owner, topic;
                using (var reader = command.ExecuteReader())
                {
                    if (!reader.Read())
                    {
                        return null;
                    }

                    id = reader.GetInt64(0);
                    isPrivate = reader.GetInt64(1) != 0;
                    owner = reader.IsDBNull(2) ? null : reader.GetString(2);
                    topic = reader.IsDBNull(3) ? null : reader.GetString(3);
                }

                using var standings = connection.CreateCommand();
                standings.CommandText = "SELECT username, standing, until_ms FROM room_standings WHERE room_id = $id";
                standings.Parameters.AddWithValue("$id", id);
                var rows = new List<(string, string, long?)>();
                using (var reader = standings.ExecuteReader())
                {
                    while (reader.Read())
                    {
                        rows.Add((reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetInt64(2)));
                    }
                }

                return (RoomAccess?)RoomStandings.Build(isPrivate, owner, topic, rows);
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> PrivateRoomsAsync(CancellationToken cancellationToken) =>
        ReadAsync(connection => Strings(connection, "SELECT name FROM rooms WHERE private = 1 ORDER BY name"), cancellationToken);

    /// <inheritdoc />
    public ValueTask<RoomMessage?> FindRoomMessageAsync(string room, long id, CancellationToken cancellationToken) =>
        ReadAsync(
            connection =>
            {
                using var command = connection.CreateCommand();
                command.CommandText = $"SELECT {RoomColumns} FROM room_messages WHERE room_id = (SELECT id FROM rooms WHERE name = $room) AND seq = $seq";
                command.Parameters.AddWithValue("$room", room);
                command.Parameters.AddWithValue("$seq", id);
                using var reader = command.ExecuteReader();
                return reader.Read() ? ReadRoomMessage(room, reader) : null;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<int> CountOwnedAsync(string owner, CancellationToken cancellationToken) =>
        ReadAsync(connection => Convert.ToInt32(Scalar(connection, "SELECT count(*) FROM rooms WHERE owner = $owner", ("$owner", owner)), System.Globalization.CultureInfo.InvariantCulture), cancellationToken);

    /// <inheritdoc />
    ValueTask<bool> IRoomStore.ExistsAsync(string room, CancellationToken cancellationToken) =>
        ReadAsync(connection => Scalar(connection, "SELECT 1 FROM rooms WHERE name = $room", ("$room", room)) is not null, cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) =>
        ReadAsync(connection => Strings(connection, "SELECT name FROM rooms ORDER BY name"), cancellationToken);

    /// <inheritdoc />
    public async ValueTask<bool> AddMemberAsync(string room, string user, CancellationToken cancellationToken) =>
        await Writer.WriteAsync(s => s.AddMember(room, user), cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public async ValueTask<bool[]> AddMembersAsync(string room, IReadOnlyList<string> users, CancellationToken cancellationToken) =>
        await Writer.WriteAsync(s => s.AddMembers(room, users), cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public async ValueTask<bool> RemoveMemberAsync(string room, string user, CancellationToken cancellationToken) =>
        await Writer.WriteAsync(s => s.RemoveMember(room, user), cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> MembersAsync(string room, CancellationToken cancellationToken) =>
        ReadAsync(
            connection => Strings(
                connection,
                "SELECT m.username FROM memberships m JOIN rooms r ON r.id = m.room_id WHERE r.name = $room ORDER BY m.username",
                ("$room", room)),
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> RoomsOfAsync(string user, CancellationToken cancellationToken) =>
        ReadAsync(
            connection => Strings(
                connection,
                "SELECT r.name FROM memberships m JOIN rooms r ON r.id = m.room_id WHERE m.username = $user ORDER BY r.name",
                ("$user", user)),
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<long> LastRoomIdAsync(string room, CancellationToken cancellationToken) =>
        ReadAsync(connection => Scalar(connection, "SELECT last_seq FROM rooms WHERE name = $room", ("$room", room)) as long? ?? 0L, cancellationToken);

    /// <inheritdoc />
    public async ValueTask<long> AppendRoomMessagesAsync(string room, IReadOnlyList<NewRoomMessage> messages, CancellationToken cancellationToken) =>
        await Writer.WriteAsync(s => s.AppendRoomMessages(room, messages), cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    /// <remarks>
    /// The batch goes into the writer's queue at once, behind <paramref name="after"/>: the one writer applies
    /// requests in queue order, so the two commit in order (in one group, or the second in a later one), and the
    /// writer refuses a request whose predecessor failed (<see cref="StorageWriter"/>). The writer closes the batch
    /// when it applies it inside its group's transaction: while it commits other rooms' groups, the room's next
    /// posts join the batch instead of waiting for the one after.
    /// </remarks>
    public async ValueTask<Task<long>> QueueRoomBatchAsync(string room, RoomBatch batch, Task<long>? after, CancellationToken cancellationToken) =>
        await Writer.QueueAsync(s => s.AppendRoomMessages(room, batch.Close()), after, cancellationToken, onWriterThread: true).ConfigureAwait(false);

    /// <inheritdoc />
    public async ValueTask<long> AppendPrivateMessageAsync(string from, string to, string text, DateTimeOffset timestamp, CancellationToken cancellationToken)
    {
        var at = timestamp.ToUnixTimeMilliseconds();
        return await Writer.WriteAsync(s => s.AppendPrivateMessage(from, to, text, at), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<RoomMessage>> RoomHistoryAsync(string room, HistoryQuery query, CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<RoomMessage>>(
            connection =>
            {
                using var command = RoomHistoryCommand(connection, room, query);
                var page = new List<RoomMessage>();
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    page.Add(ReadRoomMessage(room, reader));
                }

                return OldestFirst(page, query);
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<PrivateMessage>> PrivateHistoryAsync(string user, string other, HistoryQuery query, CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<PrivateMessage>>(
            connection =>
            {
                using var command = PrivateHistoryCommand(connection, user, other, query);
                var page = new List<PrivateMessage>();
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    page.Add(new PrivateMessage(reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(0), FromMs(reader.GetInt64(4))));
                }

                return OldestFirst(page, query);
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<long> LastPrivateIdAsync(CancellationToken cancellationToken) =>
        ReadAsync(
            // AUTOINCREMENT keeps the highest id ever handed out here, so pruning never makes it go back.
            connection => Scalar(connection, "SELECT seq FROM sqlite_sequence WHERE name = 'private_messages'") as long? ?? 0L,
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<PrivateMessage>> PrivateMessagesOfAsync(string user, long after, int limit, CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<PrivateMessage>>(
            connection =>
            {
                // A walk of the primary key from the position on: a catch-up reads what came since, not the table.
                using var command = connection.CreateCommand();
                command.CommandText = """
                    SELECT id, sender, recipient, body, sent_at_ms FROM private_messages
                    WHERE id > $after AND (sender = $user OR recipient = $user) ORDER BY id LIMIT $limit
                    """;
                command.Parameters.AddWithValue("$after", after);
                command.Parameters.AddWithValue("$user", user);
                command.Parameters.AddWithValue("$limit", limit);
                var page = new List<PrivateMessage>();
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    page.Add(new PrivateMessage(reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(0), FromMs(reader.GetInt64(4))));
                }

                return page;
            },
            cancellationToken);

    /// <inheritdoc />
    public async ValueTask<long> MarkRoomReadAsync(string user, string room, long id, CancellationToken cancellationToken) =>
        await Writer.WriteAsync(s => s.MarkRoomRead(user, room, id), cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public async ValueTask<long> MarkPrivateReadAsync(string user, string other, long id, CancellationToken cancellationToken) =>
        await Writer.WriteAsync(s => s.MarkPrivateRead(user, other, id), cancellationToken).ConfigureAwait(false);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<RoomReadState>> RoomReadStatesAsync(string user, IReadOnlyList<string> rooms, CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<RoomReadState>>(
            connection =>
            {
                // Per room: the position (a member without one has read up to the newest message), then two counts
                // that stop at the cap, each a range of an index from the position on.
                using var command = connection.CreateCommand();
                command.CommandText = $"""
                    SELECT coalesce(rr.seq, r.last_seq),
                        (SELECT count(*) FROM (SELECT 1 FROM room_messages m
                            WHERE m.room_id = r.id AND m.seq > coalesce(rr.seq, r.last_seq) AND m.kind IS NULL AND m.deleted = 0 AND m.sender <> $user
                            LIMIT {IReadingStore.CountCap})),
                        (SELECT count(*) FROM (SELECT 1 FROM mentions mn JOIN room_messages m ON m.room_id = mn.room_id AND m.seq = mn.seq
                            WHERE mn.username = $user AND mn.room_id = r.id AND mn.seq > coalesce(rr.seq, r.last_seq) AND m.deleted = 0
                            LIMIT {IReadingStore.CountCap}))
                    FROM rooms r LEFT JOIN room_reads rr ON rr.username = $user AND rr.room_id = r.id
                    WHERE r.name = $room
                    """;
                var userParameter = command.Parameters.AddWithValue("$user", user);
                var roomParameter = command.Parameters.AddWithValue("$room", "");
                var states = new List<RoomReadState>(rooms.Count);
                foreach (var room in rooms)
                {
                    roomParameter.Value = room;
                    using var reader = command.ExecuteReader();
                    if (reader.Read())
                    {
                        states.Add(new RoomReadState(room, reader.GetInt64(0), reader.GetInt32(1), reader.GetInt32(2)));
                    }
                }

                return states;
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<ConversationState>> ConversationsAsync(string user, int limit, CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<ConversationState>>(
            connection =>
            {
                using var command = connection.CreateCommand();
                command.CommandText = """
                    SELECT c.other, c.last_id, c.last_at_ms, coalesce(pr.id, 0) FROM conversations c
                    LEFT JOIN private_reads pr ON pr.username = c.username AND pr.other = c.other
                    WHERE c.username = $user ORDER BY c.last_id DESC LIMIT $limit
                    """;
                command.Parameters.AddWithValue("$user", user);
                command.Parameters.AddWithValue("$limit", limit);
                var rows = new List<(string Other, long LastId, long At, long Read)>();
                using (var reader = command.ExecuteReader())
                {
                    while (reader.Read())
                    {
                        rows.Add((reader.GetString(0), reader.GetInt64(1), reader.GetInt64(2), reader.GetInt64(3)));
                    }
                }

                return [.. rows.Select(r => new ConversationState(r.Other, r.LastId, FromMs(r.At), r.Read, PrivateUnread(connection, user, r.Other, r.Read)))];
            },
            cancellationToken);

    /// <inheritdoc />
    public ValueTask<ConversationState> ConversationAsync(string user, string other, CancellationToken cancellationToken) =>
        ReadAsync(
            connection =>
            {
                using var command = connection.CreateCommand();
                command.CommandText = """
                    SELECT c.last_id, c.last_at_ms, (SELECT id FROM private_reads WHERE username = $user AND other = $other)
                    FROM (SELECT $user AS username, $other AS other) k LEFT JOIN conversations c ON c.username = k.username AND c.other = k.other
                    """;
                command.Parameters.AddWithValue("$user", user);
                command.Parameters.AddWithValue("$other", other);
                using var reader = command.ExecuteReader();
                reader.Read();
                var lastId = reader.IsDBNull(0) ? 0 : reader.GetInt64(0);
                var at = reader.IsDBNull(1) ? 0 : reader.GetInt64(1);
                var read = reader.IsDBNull(2) ? 0 : reader.GetInt64(2);
                return new ConversationState(other, lastId, FromMs(at), read, PrivateUnread(connection, user, other, read));
            },
            cancellationToken);

    // Messages from the other user after the position: a range of the conversation's index, stopping at the cap.
    private static int PrivateUnread(SqliteConnection connection, string user, string other, long after)
    {
        if (user == other)
        {
            return 0;
        }

        using var command = connection.CreateCommand();
        command.CommandText = $"""
            SELECT count(*) FROM (SELECT 1 FROM private_messages
                WHERE min(sender, recipient) = $low AND max(sender, recipient) = $high AND id > $after AND sender = $other
                LIMIT {IReadingStore.CountCap})
            """;
        var userFirst = string.CompareOrdinal(user, other) <= 0;
        command.Parameters.AddWithValue("$low", userFirst ? user : other);
        command.Parameters.AddWithValue("$high", userFirst ? other : user);
        command.Parameters.AddWithValue("$after", after);
        command.Parameters.AddWithValue("$other", other);
        return Convert.ToInt32(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<RoomSearchHit>> SearchRoomsAsync(IReadOnlyList<string> rooms, SearchQuery query, long below, int limit, CancellationToken cancellationToken) =>
        ReadAsync<IReadOnlyList<RoomSearchHit>>(
            connection =>
            {
                using var command = RoomSearchCommand(connection, rooms, query, below, limit);
                var hits = new List<RoomSearchHit>();
                using var reader = command.ExecuteReader();
                while (reader.Read())
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
        ReadAsync<IReadOnlyList<PrivateSearchHit>>(
            connection =>
            {
                using var command = connection.CreateCommand();
                command.CommandText = """
                    SELECT p.id, p.sender, p.recipient, p.body, p.sent_at_ms
                    FROM private_messages_search s JOIN private_messages p ON p.id = s.rowid
                    WHERE private_messages_search MATCH $query AND s.rowid < $below AND (p.sender = $user OR p.recipient = $user)
                    ORDER BY s.rowid DESC LIMIT $limit
                    """;
                command.Parameters.AddWithValue("$query", MatchExpression(query));
                command.Parameters.AddWithValue("$below", below);
                command.Parameters.AddWithValue("$user", user);
                command.Parameters.AddWithValue("$limit", limit);
                var hits = new List<PrivateSearchHit>();
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    hits.Add(new PrivateSearchHit(new PrivateMessage(reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetInt64(0), FromMs(reader.GetInt64(4)))));
                }

                return hits;
            },
            cancellationToken);

    /// <summary>The plan SQLite picks for a room search (tests pin that it starts from the full-text index).</summary>
    internal async Task<string> ExplainSearchAsync(SearchQuery query, CancellationToken cancellationToken) =>
        await ReadAsync(
            connection =>
            {
                using var command = RoomSearchCommand(connection, ["lobby"], query, long.MaxValue, 20);
                command.CommandText = "EXPLAIN QUERY PLAN " + command.CommandText;
                var lines = new List<string>();
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    lines.Add(reader.GetString(3));
                }

                return string.Join("\n", lines);
            },
            cancellationToken).ConfigureAwait(false);

    private static SqliteCommand RoomSearchCommand(SqliteConnection connection, IReadOnlyList<string> rooms, SearchQuery query, long below, int limit)
    {
        // From the full-text index, newest match first; each match is looked up by key and kept if its room is one
        // the core allowed. The rooms travel as one JSON array parameter.
        var command = connection.CreateCommand();
        command.CommandText = """
            SELECT s.rowid, r.name, m.seq, m.sender, m.body, m.sent_at_ms, m.edited_at_ms
            FROM room_messages_search s JOIN room_messages m ON m.id = s.rowid JOIN rooms r ON r.id = m.room_id
            WHERE room_messages_search MATCH $query AND s.rowid < $below AND r.name IN (SELECT value FROM json_each($rooms))
            ORDER BY s.rowid DESC LIMIT $limit
            """;
        command.Parameters.AddWithValue("$query", MatchExpression(query));
        command.Parameters.AddWithValue("$below", below);
        command.Parameters.AddWithValue("$rooms", System.Text.Json.JsonSerializer.Serialize(rooms));
        command.Parameters.AddWithValue("$limit", limit);
        return command;
    }

    // FTS5 syntax from the core's parsed terms: each a quoted phrase of letters and digits (nothing to escape),
    // a prefix marked with *; terms side by side must all match.
    private static string MatchExpression(SearchQuery query) =>
        string.Join(" ", query.Terms.Select(t => "\"" + string.Join(" ", t.Words) + "\"" + (t.Prefix ? "*" : "")));

    /// <summary>The plan SQLite picks for a history read, one line per step (tests pin the indexes with it).</summary>
    internal async Task<string> ExplainHistoryAsync(HistoryQuery query, bool privateConversation, CancellationToken cancellationToken) =>
        await ReadAsync(
            connection =>
            {
                using var command = privateConversation
                    ? PrivateHistoryCommand(connection, "alice", "bob", query)
                    : RoomHistoryCommand(connection, "lobby", query);
                command.CommandText = "EXPLAIN QUERY PLAN " + command.CommandText;
                var lines = new List<string>();
                using var reader = command.ExecuteReader();
                while (reader.Read())
                {
                    lines.Add(reader.GetString(3));
                }

                return string.Join("\n", lines);
            },
            cancellationToken).ConfigureAwait(false);

    private const string RoomColumns = "seq, sender, body, sent_at_ms, kind, target, refers_to, until_ms, edited_at_ms, deleted";

    private static RoomMessage ReadRoomMessage(string room, SqliteDataReader reader) =>
        reader.IsDBNull(4) && reader.IsDBNull(8) && reader.GetInt64(9) == 0
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
                reader.GetInt64(9) != 0);

    private static SqliteCommand RoomHistoryCommand(SqliteConnection connection, string room, HistoryQuery query)
    {
        var command = connection.CreateCommand();
        var (where, order) = Page(query, "seq");
        command.CommandText =
            $"SELECT {RoomColumns} FROM room_messages " +
            $"WHERE room_id = (SELECT id FROM rooms WHERE name = $room) AND {where} ORDER BY seq {order} LIMIT $limit";
        command.Parameters.AddWithValue("$room", room);
        AddPage(command, query);
        return command;
    }

    private static SqliteCommand PrivateHistoryCommand(SqliteConnection connection, string user, string other, HistoryQuery query)
    {
        var command = connection.CreateCommand();
        var (where, order) = Page(query, "id");

        // Spelled exactly as in the index private_messages_by_pair, so SQLite uses it.
        command.CommandText =
            "SELECT id, sender, recipient, body, sent_at_ms FROM private_messages " +
            $"WHERE min(sender, recipient) = $low AND max(sender, recipient) = $high AND {where} ORDER BY id {order} LIMIT $limit";
        var userFirst = string.CompareOrdinal(user, other) <= 0;
        command.Parameters.AddWithValue("$low", userFirst ? user : other);
        command.Parameters.AddWithValue("$high", userFirst ? other : user);
        AddPage(command, query);
        return command;
    }

    private StorageWriter Writer => writer ?? throw new InvalidOperationException("the store is not open");

    /// <summary>
    /// Whether the file can take a write now, as the outage's probe asks it: through the writer like any write, so
    /// it meets what a post would meet; its commit ends the outage.
    /// </summary>
    internal Task ProbeAsync(CancellationToken cancellationToken) =>
        Writer.WriteAsync(s => { s.Probe(); return true; }, cancellationToken, isProbe: true);

    private long NowMs() => time.GetUtcNow().ToUnixTimeMilliseconds();

    private void Configure(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode = WAL";
        var mode = command.ExecuteScalar() as string;
        if (!string.Equals(mode, "wal", StringComparison.OrdinalIgnoreCase))
        {
            throw new StorageException($"{settings.DatabasePath} cannot be used: SQLite refused WAL mode (journal_mode is {mode})");
        }

        command.CommandText = settings.Synchronous == SqliteSynchronous.Full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL";
        command.ExecuteNonQuery();
    }

    private void Release(SqliteConnection? connection)
    {
        connection?.Dispose();
        lockFile?.Dispose();
        lockFile = null;
    }

    private static FileStream LockDataFile(string path)
    {
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new StorageException($"cannot create the data directory {Path.GetDirectoryName(path)}: {ex.Message}", ex);
        }

        // A second TinyChat on the same file would hand out the same sequence numbers. The lock is a separate
        // file because closing any descriptor of the database itself would drop SQLite's own POSIX locks.
        var lockPath = path + ".lock";
        try
        {
            return new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException ex)
        {
            throw new StorageException($"the data directory {Path.GetDirectoryName(path)} is in use by another TinyChat process: stop it, or give this one its own with --data PATH", ex);
        }
        catch (UnauthorizedAccessException ex)
        {
            throw new StorageException($"{path} cannot be used: no permission to create {lockPath}", ex);
        }
    }

    private static string Reason(SqliteException ex) => ex.SqliteErrorCode switch
    {
        26 => "it is not a SQLite database (or it is encrypted)",
        11 => "the database file is corrupt",
        14 => "the file cannot be opened (permissions, or a folder in its place?)",
        _ => ex.Message,
    };

    private async ValueTask<T> ReadAsync<T>(Func<SqliteConnection, T> read, CancellationToken cancellationToken)
    {
        _ = Writer;
        var connection = new SqliteConnection(readConnectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return read(connection);
        }
    }

    private static object? Scalar(SqliteConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        return command.ExecuteScalar();
    }

    private static IReadOnlyList<string> Strings(SqliteConnection connection, string sql, params (string Name, object Value)[] parameters)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value);
        }

        var values = new List<string>();
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            values.Add(reader.GetString(0));
        }

        return values;
    }

    // After an id: the oldest page past it, read upwards. Otherwise: the newest page below "before" (or the
    // newest of all), read downwards through the index and flipped to oldest first.
    private static (string Where, string Order) Page(HistoryQuery query, string column) =>
        query.After is not null ? ($"{column} > $after", "ASC") : ($"{column} < $before", "DESC");

    private static void AddPage(SqliteCommand command, HistoryQuery query)
    {
        if (query.After is { } after)
        {
            command.Parameters.AddWithValue("$after", after);
        }
        else
        {
            command.Parameters.AddWithValue("$before", query.Before ?? long.MaxValue);
        }

        command.Parameters.AddWithValue("$limit", Math.Max(0, query.Limit));
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
}
