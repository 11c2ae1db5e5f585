using Microsoft.Data.Sqlite;
using TinyChat.Runtime;

namespace TinyChat.Storage.Sqlite;

/// <summary>
/// The database schema and its forward migrations. <c>schema_version</c> holds one row: the version the file is at.
/// Migration N takes a file from version N-1 to N in one transaction; migrations are never edited once released.
/// </summary>
internal static class SqliteSchema
{
    /// <summary>Index i holds the migration to version i + 1.</summary>
    private static readonly string[] Migrations =
    [
        // Version 1.
        """
        CREATE TABLE schema_version (
            version INTEGER NOT NULL
        );

        CREATE TABLE accounts (
            username      TEXT PRIMARY KEY,
            token_hash    BLOB NOT NULL,          -- SHA-256 of the access token; the token itself is never stored
            created_at_ms INTEGER NOT NULL
        );
        CREATE INDEX accounts_by_token_hash ON accounts (token_hash);

        CREATE TABLE rooms (
            id            INTEGER PRIMARY KEY,
            name          TEXT NOT NULL UNIQUE,
            last_seq      INTEGER NOT NULL DEFAULT 0, -- highest sequence number ever stored; survives pruning
            created_at_ms INTEGER NOT NULL
        );

        CREATE TABLE memberships (
            room_id  INTEGER NOT NULL REFERENCES rooms (id),
            username TEXT NOT NULL,
            PRIMARY KEY (room_id, username)
        ) WITHOUT ROWID;
        CREATE INDEX memberships_by_user ON memberships (username, room_id);

        -- id is insertion order (age pruning walks it); seq is the room's own sequence number.
        CREATE TABLE room_messages (
            id         INTEGER PRIMARY KEY,
            room_id    INTEGER NOT NULL REFERENCES rooms (id),
            seq        INTEGER NOT NULL,
            sender     TEXT NOT NULL,
            body       TEXT NOT NULL,
            sent_at_ms INTEGER NOT NULL,
            UNIQUE (room_id, seq)
        );

        -- AUTOINCREMENT: an id is never handed out twice, even after the newest rows were pruned.
        CREATE TABLE private_messages (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            sender     TEXT NOT NULL,
            recipient  TEXT NOT NULL,
            body       TEXT NOT NULL,
            sent_at_ms INTEGER NOT NULL
        );
        -- One conversation, either direction: queries name the same min/max expressions to use it.
        CREATE INDEX private_messages_by_pair ON private_messages (min(sender, recipient), max(sender, recipient), id);

        INSERT INTO schema_version (version) VALUES (0);
        """,

        // Version 2: what administrators changed, for running servers to apply to their connections (IAdminStore).
        """
        CREATE TABLE admin_changes (
            id    INTEGER PRIMARY KEY AUTOINCREMENT,
            kind  TEXT NOT NULL,                  -- token_reset, user_deleted or room_deleted
            name  TEXT NOT NULL,                  -- the user or the room
            at_ms INTEGER NOT NULL
        );
        """,

        // Version 3: private rooms, owners, topics, roles and moderation; room events (edits, deletions,
        // moderation) as rows of the room's history. Existing rooms become public rooms without an owner.
        """
        ALTER TABLE rooms ADD COLUMN private INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE rooms ADD COLUMN owner TEXT;
        ALTER TABLE rooms ADD COLUMN topic TEXT;

        -- Who may do what beyond membership: one row per user and standing (moderator, invited, banned, muted).
        CREATE TABLE room_standings (
            room_id  INTEGER NOT NULL REFERENCES rooms (id),
            username TEXT NOT NULL,
            standing TEXT NOT NULL,
            until_ms INTEGER,                      -- muted: when the mute ends
            PRIMARY KEY (room_id, username, standing)
        ) WITHOUT ROWID;

        -- kind is NULL for a chat message, else the event (edit, delete, kick, ban, ...).
        ALTER TABLE room_messages ADD COLUMN kind TEXT;
        ALTER TABLE room_messages ADD COLUMN target TEXT;
        ALTER TABLE room_messages ADD COLUMN refers_to INTEGER;
        ALTER TABLE room_messages ADD COLUMN until_ms INTEGER;
        ALTER TABLE room_messages ADD COLUMN edited_at_ms INTEGER;
        ALTER TABLE room_messages ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
        -- A deletion blanks the edits of its message too: found through this, never by a scan.
        CREATE INDEX room_messages_by_reference ON room_messages (room_id, refers_to) WHERE refers_to IS NOT NULL;
        """,

        // Version 4: invite codes (Chat:Registration = invite). A registration takes one use in the transaction that
        // creates the account; revoking deletes the row.
        """
        CREATE TABLE invites (
            id            INTEGER PRIMARY KEY AUTOINCREMENT,
            code_hash     BLOB NOT NULL UNIQUE,   -- SHA-256 of the code; the code itself is never stored
            hint          TEXT NOT NULL,          -- the code's first characters, for listings
            uses          INTEGER NOT NULL,
            uses_left     INTEGER NOT NULL,
            expires_at_ms INTEGER NOT NULL,
            created_at_ms INTEGER NOT NULL
        );
        """,

        // Version 5: reading state and search. Mentions and read positions are rows the core's decisions write;
        // conversations and the full-text indexes are kept in step by triggers, so no writer can forget them.
        // Existing data: conversations and the indexes are filled from the messages, and every existing private
        // conversation counts as read (a room without a read position counts as read up to its newest message).
        """
        CREATE TABLE mentions (
            username TEXT NOT NULL,
            room_id  INTEGER NOT NULL,
            seq      INTEGER NOT NULL,
            PRIMARY KEY (username, room_id, seq)
        ) WITHOUT ROWID;

        -- Read positions only move forward (upserts keep the larger one).
        CREATE TABLE room_reads (
            username TEXT NOT NULL,
            room_id  INTEGER NOT NULL,
            seq      INTEGER NOT NULL,
            PRIMARY KEY (username, room_id)
        ) WITHOUT ROWID;

        CREATE TABLE private_reads (
            username TEXT NOT NULL,
            other    TEXT NOT NULL,
            id       INTEGER NOT NULL,
            PRIMARY KEY (username, other)
        ) WITHOUT ROWID;

        -- One row per user and conversation partner: the newest message, for "my conversations, newest first".
        CREATE TABLE conversations (
            username   TEXT NOT NULL,
            other      TEXT NOT NULL,
            last_id    INTEGER NOT NULL,
            last_at_ms INTEGER NOT NULL,
            PRIMARY KEY (username, other)
        ) WITHOUT ROWID;
        CREATE INDEX conversations_by_recency ON conversations (username, last_id);

        CREATE TRIGGER private_messages_conversations AFTER INSERT ON private_messages BEGIN
            INSERT INTO conversations (username, other, last_id, last_at_ms) VALUES (new.sender, new.recipient, new.id, new.sent_at_ms)
                ON CONFLICT DO UPDATE SET last_id = excluded.last_id, last_at_ms = excluded.last_at_ms WHERE excluded.last_id > last_id;
            INSERT INTO conversations (username, other, last_id, last_at_ms) VALUES (new.recipient, new.sender, new.id, new.sent_at_ms)
                ON CONFLICT DO UPDATE SET last_id = excluded.last_id, last_at_ms = excluded.last_at_ms WHERE excluded.last_id > last_id;
        END;

        INSERT INTO conversations (username, other, last_id, last_at_ms)
            SELECT u, o, max(id), at FROM (
                SELECT sender AS u, recipient AS o, id, sent_at_ms AS at FROM private_messages
                UNION ALL
                SELECT recipient, sender, id, sent_at_ms FROM private_messages)
            GROUP BY u, o;
        INSERT INTO private_reads (username, other, id) SELECT username, other, last_id FROM conversations;

        -- Full-text indexes over the messages' text (external content: the text is stored once). Only chat
        -- messages that are not deleted are indexed; an edit re-indexes the new text.
        CREATE VIRTUAL TABLE room_messages_search USING fts5 (
            body, content = 'room_messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 0');
        CREATE TRIGGER room_messages_search_insert AFTER INSERT ON room_messages WHEN new.kind IS NULL AND new.deleted = 0 BEGIN
            INSERT INTO room_messages_search (rowid, body) VALUES (new.id, new.body);
        END;
        CREATE TRIGGER room_messages_search_update AFTER UPDATE OF body, deleted ON room_messages WHEN old.kind IS NULL BEGIN
            INSERT INTO room_messages_search (room_messages_search, rowid, body) SELECT 'delete', old.id, old.body WHERE old.deleted = 0;
            INSERT INTO room_messages_search (rowid, body) SELECT new.id, new.body WHERE new.deleted = 0;
        END;
        CREATE TRIGGER room_messages_search_delete AFTER DELETE ON room_messages WHEN old.kind IS NULL AND old.deleted = 0 BEGIN
            INSERT INTO room_messages_search (room_messages_search, rowid, body) VALUES ('delete', old.id, old.body);
        END;
        INSERT INTO room_messages_search (rowid, body) SELECT id, body FROM room_messages WHERE kind IS NULL AND deleted = 0;

        CREATE VIRTUAL TABLE private_messages_search USING fts5 (
            body, content = 'private_messages', content_rowid = 'id', tokenize = 'unicode61 remove_diacritics 0');
        CREATE TRIGGER private_messages_search_insert AFTER INSERT ON private_messages BEGIN
            INSERT INTO private_messages_search (rowid, body) VALUES (new.id, new.body);
        END;
        CREATE TRIGGER private_messages_search_delete AFTER DELETE ON private_messages BEGIN
            INSERT INTO private_messages_search (private_messages_search, rowid, body) VALUES ('delete', old.id, old.body);
        END;
        INSERT INTO private_messages_search (rowid, body) SELECT id, body FROM private_messages;
        """,

        // Version 6: rooms by owner, so the rooms-created quota counts a user's rooms in the store instead of a table
        // in memory that grew with every user who ever created a room.
        """
        CREATE INDEX rooms_by_owner ON rooms (owner) WHERE owner IS NOT NULL;
        """,
    ];

    /// <summary>The version this code writes and understands.</summary>
    public static int CurrentVersion => Migrations.Length;

    /// <summary>
    /// The file's schema version (0 for a new, empty file), read without writing anything. Refuses files it must
    /// not touch: newer than this code, or holding tables that are not TinyChat's. A file that is not SQLite at
    /// all fails here with SQLite's own error, before anything was written to it.
    /// </summary>
    public static int CheckVersion(SqliteConnection connection, string path)
    {
        var found = ReadVersion(connection, path);
        return found <= CurrentVersion
            ? found
            : throw new StorageException(
                $"{path} has schema version {found}, newer than this TinyChat understands ({CurrentVersion}); run a newer TinyChat or restore a backup. The file was left untouched");
    }

    /// <summary>
    /// Brings a file at version <paramref name="found"/> (from <see cref="CheckVersion"/>) to <see cref="CurrentVersion"/>
    /// (or to <paramref name="upTo"/>: tests build a file as an older release left it).
    /// </summary>
    public static void Migrate(SqliteConnection connection, int found, int? upTo = null)
    {
        for (var version = found; version < (upTo ?? CurrentVersion); version++)
        {
            Execute(connection, "BEGIN IMMEDIATE");
            try
            {
                Execute(connection, Migrations[version]);
                CrashPoints.Pass($"migration-{version + 1}");
                Execute(connection, $"UPDATE schema_version SET version = {version + 1}");
                Execute(connection, "COMMIT");
            }
            catch
            {
                Execute(connection, "ROLLBACK");
                throw;
            }
        }
    }

    private static int ReadVersion(SqliteConnection connection, string path)
    {
        using var tables = connection.CreateCommand();
        tables.CommandText = "SELECT count(*), count(*) FILTER (WHERE name = 'schema_version') FROM sqlite_master WHERE type = 'table'";
        using (var reader = tables.ExecuteReader())
        {
            reader.Read();
            var all = reader.GetInt64(0);
            var versionTable = reader.GetInt64(1);
            if (versionTable == 0)
            {
                return all == 0
                    ? 0
                    : throw new StorageException($"{path} is a SQLite database without a schema_version table: not a TinyChat data file; it was left untouched");
            }
        }

        using var version = connection.CreateCommand();
        version.CommandText = "SELECT version FROM schema_version";
        return version.ExecuteScalar() is long value
            ? (int)value
            : throw new StorageException($"{path} has an empty schema_version table; it was left untouched");
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
