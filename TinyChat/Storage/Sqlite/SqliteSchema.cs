using Microsoft.Data.Sqlite;

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
