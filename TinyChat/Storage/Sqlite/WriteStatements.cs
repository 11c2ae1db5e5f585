using Microsoft.Data.Sqlite;
using TinyChat.Chat;
using TinyChat.Runtime;

namespace TinyChat.Storage.Sqlite;

/// <summary>
/// Every statement that changes the database, prepared once on the writer's connection. Used only by the
/// <see cref="StorageWriter"/> loop, inside its open transaction, so nothing here is thread-safe.
/// </summary>
internal sealed class WriteStatements : IDisposable
{
    // Rows per multi-row INSERT: one statement execution per 32 messages saves the per-execution overhead of 31.
    private const int RowsPerInsert = 32;

    private readonly SqliteConnection connection;
    private readonly List<SqliteCommand> all = [];

    private readonly SqliteCommand begin;
    private readonly SqliteCommand commit;
    private readonly SqliteCommand rollback;
    private readonly SqliteCommand createAccount;
    private readonly SqliteCommand upsertAccount;
    private readonly SqliteCommand useInvite;
    private readonly SqliteCommand deleteAccount;
    private readonly SqliteCommand createRoom;
    private readonly SqliteCommand addMember;
    private readonly SqliteCommand removeMember;
    private readonly RoomMessageInsert insertRoomMessage;
    private readonly RoomMessageInsert insertRoomMessages;
    private readonly SqliteCommand lastSeq;
    private readonly SqliteCommand setLastSeq;
    private readonly SqliteCommand insertPrivateMessage;
    private readonly SqliteCommand roomsOverLimit;
    private readonly SqliteCommand pruneRoomByCount;
    private readonly SqliteCommand pruneRoomMessagesByAge;
    private readonly SqliteCommand prunePrivateMessagesByAge;
    private readonly SqliteCommand insertRoomEvent;
    private readonly SqliteCommand editMessage;
    private readonly SqliteCommand deleteMessage;
    private readonly SqliteCommand blankEdits;
    private readonly SqliteCommand addStanding;
    private readonly SqliteCommand removeStanding;
    private readonly SqliteCommand endMembership;
    private readonly SqliteCommand setTopic;
    private readonly SqliteCommand insertMention;
    private readonly SqliteCommand readAtJoin;
    private readonly SqliteCommand markRoomRead;
    private readonly SqliteCommand markPrivateRead;

    public WriteStatements(SqliteConnection connection)
    {
        this.connection = connection;

        // The writer runs BEGIN/COMMIT itself rather than through SqliteTransaction, so these prepared
        // commands can be reused across transactions without re-attaching a transaction object to each.
        begin = Prepare("BEGIN IMMEDIATE");
        commit = Prepare("COMMIT");
        rollback = Prepare("ROLLBACK");
        createAccount = Prepare(
            "INSERT INTO accounts (username, token_hash, created_at_ms) VALUES ($user, $hash, $now) ON CONFLICT (username) DO NOTHING",
            "$user", "$hash", "$now");
        upsertAccount = Prepare(
            "INSERT INTO accounts (username, token_hash, created_at_ms) VALUES ($user, $hash, $now) ON CONFLICT (username) DO UPDATE SET token_hash = excluded.token_hash",
            "$user", "$hash", "$now");
        useInvite = Prepare(
            "UPDATE invites SET uses_left = uses_left - 1 WHERE code_hash = $hash AND uses_left > 0 AND expires_at_ms > $now",
            "$hash", "$now");
        deleteAccount = Prepare("DELETE FROM accounts WHERE username = $user", "$user");
        createRoom = Prepare(
            "INSERT INTO rooms (name, last_seq, created_at_ms, owner, private) VALUES ($room, 0, $now, $owner, $private) ON CONFLICT (name) DO NOTHING",
            "$room", "$now", "$owner", "$private");
        insertRoomEvent = Prepare(
            "INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms, kind, target, refers_to, until_ms) VALUES ($room_id, $seq, $sender, $body, $at, $kind, $target, $refers_to, $until)",
            "$room_id", "$seq", "$sender", "$body", "$at", "$kind", "$target", "$refers_to", "$until");
        editMessage = Prepare(
            "UPDATE room_messages SET body = $body, edited_at_ms = $at WHERE room_id = $room_id AND seq = $seq AND kind IS NULL",
            "$room_id", "$seq", "$body", "$at");
        deleteMessage = Prepare(
            "UPDATE room_messages SET body = '', deleted = 1 WHERE room_id = $room_id AND seq = $seq AND kind IS NULL",
            "$room_id", "$seq");
        blankEdits = Prepare(
            "UPDATE room_messages SET body = '' WHERE room_id = $room_id AND refers_to = $seq AND kind = 'edit'",
            "$room_id", "$seq");
        addStanding = Prepare(
            "INSERT INTO room_standings (room_id, username, standing, until_ms) VALUES ($room_id, $user, $standing, $until) ON CONFLICT DO UPDATE SET until_ms = excluded.until_ms",
            "$room_id", "$user", "$standing", "$until");
        removeStanding = Prepare(
            "DELETE FROM room_standings WHERE room_id = $room_id AND username = $user AND standing = $standing",
            "$room_id", "$user", "$standing");
        endMembership = Prepare("DELETE FROM memberships WHERE room_id = $room_id AND username = $user", "$room_id", "$user");
        setTopic = Prepare("UPDATE rooms SET topic = $topic WHERE id = $room_id", "$room_id", "$topic");
        insertMention = Prepare("INSERT OR IGNORE INTO mentions (username, room_id, seq) VALUES ($user, $room_id, $seq)", "$user", "$room_id", "$seq");

        // A member starts having read everything before the join: what came before is not news to count.
        readAtJoin = Prepare(
            """
            INSERT INTO room_reads (username, room_id, seq) SELECT $user, id, last_seq FROM rooms WHERE name = $room
            ON CONFLICT DO UPDATE SET seq = max(seq, excluded.seq)
            """,
            "$room", "$user");
        markRoomRead = Prepare(
            """
            INSERT INTO room_reads (username, room_id, seq) SELECT $user, id, $seq FROM rooms WHERE name = $room
            ON CONFLICT DO UPDATE SET seq = max(seq, excluded.seq) RETURNING seq
            """,
            "$room", "$user", "$seq");
        markPrivateRead = Prepare(
            """
            INSERT INTO private_reads (username, other, id) VALUES ($user, $other, $id)
            ON CONFLICT DO UPDATE SET id = max(id, excluded.id) RETURNING id
            """,
            "$user", "$other", "$id");
        addMember = Prepare(
            "INSERT OR IGNORE INTO memberships (room_id, username) SELECT id, $user FROM rooms WHERE name = $room",
            "$room", "$user");
        removeMember = Prepare(
            "DELETE FROM memberships WHERE room_id = (SELECT id FROM rooms WHERE name = $room) AND username = $user",
            "$room", "$user");
        insertRoomMessage = new RoomMessageInsert(connection, 1);
        insertRoomMessages = new RoomMessageInsert(connection, RowsPerInsert);
        // The room's id and newest number in one lookup by name, read again for every batch: no table of ids that
        // grows with every room ever written (make growth), and none that could outlive a room deleted by an admin.
        lastSeq = Prepare("SELECT id, last_seq FROM rooms WHERE name = $room", "$room");
        setLastSeq = Prepare("UPDATE rooms SET last_seq = $seq WHERE id = $room_id", "$room_id", "$seq");
        insertPrivateMessage = Prepare(
            "INSERT INTO private_messages (sender, recipient, body, sent_at_ms) VALUES ($sender, $recipient, $body, $at) RETURNING id",
            "$sender", "$recipient", "$body", "$at");
        roomsOverLimit = Prepare("SELECT id, last_seq - $keep FROM rooms WHERE last_seq > $keep", "$keep");
        pruneRoomByCount = Prepare(
            """
            DELETE FROM room_messages WHERE id IN (
                SELECT id FROM room_messages WHERE room_id = $room_id AND seq <= $upto ORDER BY seq LIMIT $budget)
            """,
            "$room_id", "$upto", "$budget");

        // Rows are in insertion order, which is time order give or take a clock step, so the old rows form a
        // prefix of the table: find where it ends and delete only inside it. Costs the size of that prefix,
        // never a scan of the whole table. A straggler past the prefix goes on a later run.
        pruneRoomMessagesByAge = Prepare(
            """
            DELETE FROM room_messages WHERE id IN (
                SELECT id FROM room_messages
                WHERE id < coalesce((SELECT id FROM room_messages WHERE sent_at_ms >= $cutoff ORDER BY id LIMIT 1), 9223372036854775807)
                ORDER BY id LIMIT $budget)
            """,
            "$cutoff", "$budget");
        prunePrivateMessagesByAge = Prepare(
            """
            DELETE FROM private_messages WHERE id IN (
                SELECT id FROM private_messages
                WHERE id < coalesce((SELECT id FROM private_messages WHERE sent_at_ms >= $cutoff ORDER BY id LIMIT 1), 9223372036854775807)
                ORDER BY id LIMIT $budget)
            """,
            "$cutoff", "$budget");
    }

    public void Begin() => begin.ExecuteNonQuery();

    /// <summary>
    /// Whether the file can grow again after a write failed for want of space: stores a row big enough to need new
    /// pages and deletes it in the same transaction, which then commits. A full disk or page limit fails it as it
    /// would fail a post; nothing of it is ever visible (readers see committed states only, and the row is gone by
    /// then). The freed pages stay in the file for the next posts. The empty name is never a user's (names have 1 to
    /// 32 characters), and the indexed blob makes the table and its index both need pages.
    /// </summary>
    public void Probe()
    {
        using var command = connection.CreateCommand();
        command.CommandText = """
            INSERT INTO accounts (username, token_hash, created_at_ms) VALUES ('', zeroblob($bytes), 0);
            DELETE FROM accounts WHERE username = '';
            """;
        command.Parameters.AddWithValue("$bytes", ProbeBytes);
        command.ExecuteNonQuery();
    }

    /// <summary>
    /// Caps the file at <paramref name="pages"/> pages (never below its size now), as a full disk would; returns the
    /// cap in force. Tests provoke a full disk with it; it lasts until changed or the store closes.
    /// </summary>
    public long LimitPages(long pages)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA max_page_count = {pages}";
        return (long)command.ExecuteScalar()!;
    }

    /// <summary>Pages the file has now.</summary>
    public long PageCount()
    {
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA page_count";
        return (long)command.ExecuteScalar()!;
    }

    // Two pages and a half: more than any single chat message needs, so space for the probe is space for posts.
    private const int ProbeBytes = 10_000;

    public void Commit() => commit.ExecuteNonQuery();

    /// <summary>Rolls back the open transaction, if any.</summary>
    public void Rollback()
    {
        if (!connection.Handle!.IsInvalid && SQLitePCL.raw.sqlite3_get_autocommit(connection.Handle) == 0)
        {
            rollback.ExecuteNonQuery();
        }
    }

    public bool CreateAccount(string username, byte[] tokenHash, long nowMs) =>
        Run(createAccount, username, tokenHash, nowMs) == 1;

    /// <summary>
    /// Creates the account and takes one use of the invite, or neither. The writer is the only one writing, so the
    /// account row it just inserted is its own to take back when the code turns out not to be usable.
    /// </summary>
    public InvitedSignUp CreateAccountWithInvite(string username, byte[] tokenHash, byte[] inviteHash, long nowMs)
    {
        if (Run(createAccount, username, tokenHash, nowMs) != 1)
        {
            return InvitedSignUp.NameTaken;
        }

        if (Run(useInvite, inviteHash, nowMs) == 1)
        {
            return InvitedSignUp.Created;
        }

        Run(deleteAccount, username);
        return InvitedSignUp.InvalidInvite;
    }

    public bool UpsertAccount(string username, byte[] tokenHash, long nowMs) =>
        Run(upsertAccount, username, tokenHash, nowMs) == 1;

    public bool CreateRoom(string room, long nowMs, string? owner = null, bool isPrivate = false) =>
        Run(createRoom, room, nowMs, (object?)owner ?? DBNull.Value, isPrivate ? 1 : 0) == 1;

    public bool AddMember(string room, string user)
    {
        if (Run(addMember, room, user) != 1)
        {
            return false;
        }

        Run(readAtJoin, room, user);
        return true;
    }

    /// <summary>One write for a crowd joining one room: one request at the writer instead of one per joiner.</summary>
    public bool[] AddMembers(string room, IReadOnlyList<string> users)
    {
        var added = new bool[users.Count];
        for (var i = 0; i < users.Count; i++)
        {
            added[i] = AddMember(room, users[i]);
        }

        return added;
    }

    /// <summary>Moves the user's read position in the room forward (never back); the position afterwards (0: no such room).</summary>
    public long MarkRoomRead(string user, string room, long seq)
    {
        Bind(markRoomRead, room, user, seq);
        return markRoomRead.ExecuteScalar() as long? ?? 0L;
    }

    /// <summary>Moves the user's read position in a private conversation forward; the position afterwards.</summary>
    public long MarkPrivateRead(string user, string other, long id)
    {
        Bind(markPrivateRead, user, other, id);
        return (long)markPrivateRead.ExecuteScalar()!;
    }

    public bool RemoveMember(string room, string user) => Run(removeMember, room, user) == 1;

    /// <summary>
    /// Inserts one room's batch numbered from the room's <c>last_seq</c> + 1 and moves <c>last_seq</c> to its last
    /// number, all inside the open transaction; returns the first number. Reading <c>last_seq</c> here rather than
    /// trusting a number chosen outside is what lets several appenders share a room: a batch earlier in the same
    /// group transaction has already moved it, and SQLite's single writer serialises everyone else.
    /// </summary>
    public long AppendRoomMessages(string room, IReadOnlyList<NewRoomMessage> messages)
    {
        var (roomId, newest) = RoomAndNewest(room);
        var first = newest + 1;
        if (HasEvents(messages))
        {
            // Rare (a moderator acted, an author edited): row by row, each applied as it is stored.
            for (var i = 0; i < messages.Count; i++)
            {
                InsertEvent(roomId, first + i, messages[i]);
            }

            Run(setLastSeq, roomId, first + messages.Count - 1);
            InsertMentions(roomId, first, messages);
            return first;
        }

        var next = 0;
        for (; next + RowsPerInsert <= messages.Count; next += RowsPerInsert)
        {
            insertRoomMessages.Insert(roomId, first, messages, next);
        }

        for (; next < messages.Count; next++)
        {
            insertRoomMessage.Insert(roomId, first, messages, next);
        }

        Run(setLastSeq, roomId, first + messages.Count - 1);
        InsertMentions(roomId, first, messages);
        return first;
    }

    // In the transaction that stores the messages: a mention is counted exactly when its message exists.
    private void InsertMentions(long roomId, long first, IReadOnlyList<NewRoomMessage> messages)
    {
        for (var i = 0; i < messages.Count; i++)
        {
            foreach (var user in messages[i].Mentions)
            {
                Run(insertMention, user, roomId, first + i);
            }
        }
    }

    private static bool HasEvents(IReadOnlyList<NewRoomMessage> messages)
    {
        for (var i = 0; i < messages.Count; i++)
        {
            if (messages[i].Kind is not null)
            {
                return true;
            }
        }

        return false;
    }

    private void InsertEvent(long roomId, long seq, NewRoomMessage e)
    {
        Run(
            insertRoomEvent,
            roomId,
            seq,
            e.From,
            e.Text,
            e.Timestamp.ToUnixTimeMilliseconds(),
            (object?)e.Kind ?? DBNull.Value,
            (object?)e.Target ?? DBNull.Value,
            (object?)e.RefersTo ?? DBNull.Value,
            (object?)e.Until?.ToUnixTimeMilliseconds() ?? DBNull.Value);
        switch (e.Kind)
        {
            case null:
                return;
            case RoomEventKind.Edit:
                Run(editMessage, roomId, e.RefersTo ?? 0, e.Text, e.Timestamp.ToUnixTimeMilliseconds());
                return;
            case RoomEventKind.Delete:
                Run(deleteMessage, roomId, e.RefersTo ?? 0);
                Run(blankEdits, roomId, e.RefersTo ?? 0);
                return;
            case RoomEventKind.Topic:
                Run(setTopic, roomId, e.Text.Length == 0 ? DBNull.Value : e.Text);
                return;
        }

        var (add, until, remove, endsMembership) = RoomStandings.EffectOf(e);
        var target = e.Target ?? "";
        if (add is not null)
        {
            Run(addStanding, roomId, target, add, (object?)until ?? DBNull.Value);
        }

        foreach (var standing in remove)
        {
            Run(removeStanding, roomId, target, standing);
        }

        if (endsMembership)
        {
            Run(endMembership, roomId, target);
        }
    }

    public long AppendPrivateMessage(string from, string to, string text, long atMs)
    {
        Bind(insertPrivateMessage, from, to, text, atMs);
        return (long)insertPrivateMessage.ExecuteScalar()!;
    }

    /// <summary>Deletes at most <paramref name="budget"/> messages that the policy no longer keeps; returns how many.</summary>
    public int Prune(RetentionPolicy policy, DateTimeOffset now, int budget)
    {
        var deleted = 0;
        if (policy.MaxAge > TimeSpan.Zero)
        {
            var cutoff = (now - policy.MaxAge).ToUnixTimeMilliseconds();
            deleted += Run(pruneRoomMessagesByAge, cutoff, budget - deleted);
            if (deleted < budget)
            {
                deleted += Run(prunePrivateMessagesByAge, cutoff, budget - deleted);
            }
        }

        if (policy.MaxMessagesPerRoom > 0 && deleted < budget)
        {
            var over = new List<(long RoomId, long UpTo)>();
            roomsOverLimit.Parameters[0].Value = policy.MaxMessagesPerRoom;
            using (var reader = roomsOverLimit.ExecuteReader())
            {
                while (reader.Read())
                {
                    over.Add((reader.GetInt64(0), reader.GetInt64(1)));
                }
            }

            foreach (var (roomId, upTo) in over)
            {
                deleted += Run(pruneRoomByCount, roomId, upTo, budget - deleted);
                if (deleted >= budget)
                {
                    break;
                }
            }
        }

        if (deleted > 0)
        {
            // Inside the transaction, rows deleted and not committed.
            CrashPoints.Pass("prune");
        }

        return deleted;
    }

    public void Dispose()
    {
        insertRoomMessage.Dispose();
        insertRoomMessages.Dispose();
        foreach (var command in all)
        {
            command.Dispose();
        }
    }

    private (long RoomId, long Newest) RoomAndNewest(string room)
    {
        Bind(lastSeq, room);
        using var reader = lastSeq.ExecuteReader();
        return reader.Read()
            ? (reader.GetInt64(0), reader.GetInt64(1))
            : throw new InvalidOperationException($"room {room} does not exist in the store");
    }

    private SqliteCommand Prepare(string sql, params string[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters)
        {
            command.Parameters.Add(new SqliteParameter { ParameterName = name });
        }

        command.Prepare();
        all.Add(command);
        return command;
    }

    private static int Run(SqliteCommand command, params object[] values)
    {
        Bind(command, values);
        return command.ExecuteNonQuery();
    }

    private static void Bind(SqliteCommand command, params object[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            command.Parameters[i].Value = values[i];
        }
    }
}
