using Npgsql;

namespace TinyChat.Storage.Postgres;

/// <summary>
/// The PostgreSQL schema and its forward migrations, in the connection's current schema (<c>public</c> unless the
/// connection string's search path says otherwise). <c>schema_version</c> holds one row: the version the database
/// is at. Migration N takes it from version N-1 to N in one transaction; migrations are never edited once released.
/// </summary>
internal static class PostgresSchema
{
    // Any constant shared by every TinyChat node: nodes starting together on an empty database migrate one at a time.
    private const long MigrationLock = 0x54696e7943686174; // "TinyChat"

    /// <summary>Index i holds the migration to version i + 1.</summary>
    private static readonly string[] Migrations =
    [
        // Version 1. Names are COLLATE "C": sorted and compared byte by byte, as SQLite and the core do.
        """
        CREATE TABLE schema_version (
            version integer NOT NULL
        );

        CREATE TABLE accounts (
            username      text COLLATE "C" PRIMARY KEY,
            token_hash    bytea NOT NULL,          -- SHA-256 of the access token; the token itself is never stored
            created_at_ms bigint NOT NULL
        );
        CREATE INDEX accounts_by_token_hash ON accounts (token_hash);

        CREATE TABLE rooms (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name          text COLLATE "C" NOT NULL UNIQUE,
            last_seq      bigint NOT NULL DEFAULT 0, -- highest sequence number ever handed out; its row lock orders appends
            created_at_ms bigint NOT NULL
        );

        CREATE TABLE memberships (
            room_id  bigint NOT NULL REFERENCES rooms (id),
            username text COLLATE "C" NOT NULL,
            PRIMARY KEY (room_id, username)
        );
        CREATE INDEX memberships_by_user ON memberships (username, room_id);

        -- id is insertion order (age pruning walks it); seq is the room's own sequence number.
        CREATE TABLE room_messages (
            id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            room_id    bigint NOT NULL REFERENCES rooms (id),
            seq        bigint NOT NULL,
            sender     text COLLATE "C" NOT NULL,
            body       text NOT NULL,
            sent_at_ms bigint NOT NULL,
            UNIQUE (room_id, seq)
        );

        -- An identity never hands out an id twice, even after the newest rows were pruned.
        CREATE TABLE private_messages (
            id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            sender     text COLLATE "C" NOT NULL,
            recipient  text COLLATE "C" NOT NULL,
            body       text NOT NULL,
            sent_at_ms bigint NOT NULL
        );
        -- One conversation, either direction: queries name the same least/greatest expressions to use it.
        CREATE INDEX private_messages_by_pair ON private_messages (least(sender, recipient), greatest(sender, recipient), id);

        INSERT INTO schema_version (version) VALUES (0);
        """,

        // Version 2: what administrators changed, for every node to apply to its connections (IAdminStore).
        // Writers lock the table before taking an id, so ids are handed out in commit order and a node that has
        // applied id N never misses a smaller id committed later.
        """
        CREATE TABLE admin_changes (
            id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            kind  text NOT NULL,                -- token_reset, user_deleted or room_deleted
            name  text COLLATE "C" NOT NULL,    -- the user or the room
            at_ms bigint NOT NULL
        );
        """,

        // Version 3: private rooms, owners, topics, roles and moderation; room events (edits, deletions,
        // moderation) as rows of the room's history. Existing rooms become public rooms without an owner.
        """
        ALTER TABLE rooms ADD COLUMN private boolean NOT NULL DEFAULT false;
        ALTER TABLE rooms ADD COLUMN owner text COLLATE "C";
        ALTER TABLE rooms ADD COLUMN topic text;

        -- Who may do what beyond membership: one row per user and standing (moderator, invited, banned, muted).
        CREATE TABLE room_standings (
            room_id  bigint NOT NULL REFERENCES rooms (id),
            username text COLLATE "C" NOT NULL,
            standing text NOT NULL,
            until_ms bigint,                       -- muted: when the mute ends
            PRIMARY KEY (room_id, username, standing)
        );

        -- kind is NULL for a chat message, else the event (edit, delete, kick, ban, ...).
        ALTER TABLE room_messages ADD COLUMN kind text;
        ALTER TABLE room_messages ADD COLUMN target text COLLATE "C";
        ALTER TABLE room_messages ADD COLUMN refers_to bigint;
        ALTER TABLE room_messages ADD COLUMN until_ms bigint;
        ALTER TABLE room_messages ADD COLUMN edited_at_ms bigint;
        ALTER TABLE room_messages ADD COLUMN deleted boolean NOT NULL DEFAULT false;
        -- A deletion blanks the edits of its message too: found through this, never by a scan.
        CREATE INDEX room_messages_by_reference ON room_messages (room_id, refers_to) WHERE refers_to IS NOT NULL;
        """,

        // Version 4: invite codes (Chat:Registration = invite). A registration takes one use in the transaction that
        // creates the account (the row lock makes racing registrations for a last use take turns); revoking deletes.
        """
        CREATE TABLE invites (
            id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            code_hash     bytea NOT NULL UNIQUE,  -- SHA-256 of the code; the code itself is never stored
            hint          text NOT NULL,          -- the code's first characters, for listings
            uses          integer NOT NULL,
            uses_left     integer NOT NULL,
            expires_at_ms bigint NOT NULL,
            created_at_ms bigint NOT NULL
        );
        """,

        // Version 5: reading state and search, as in SQLite. Mentions and read positions are written by the core's
        // decisions; conversations are kept by a trigger; the text search vectors are generated columns (so an
        // edit re-indexes, a deletion un-indexes) under GIN indexes. Words are runs of letters and digits, as the
        // core parses queries: punctuation becomes a space before the 'simple' configuration (no stemming) reads it.
        """
        CREATE TABLE mentions (
            username text COLLATE "C" NOT NULL,
            room_id  bigint NOT NULL,
            seq      bigint NOT NULL,
            PRIMARY KEY (username, room_id, seq)
        );

        CREATE TABLE room_reads (
            username text COLLATE "C" NOT NULL,
            room_id  bigint NOT NULL,
            seq      bigint NOT NULL,
            PRIMARY KEY (username, room_id)
        );

        CREATE TABLE private_reads (
            username text COLLATE "C" NOT NULL,
            other    text COLLATE "C" NOT NULL,
            id       bigint NOT NULL,
            PRIMARY KEY (username, other)
        );

        CREATE TABLE conversations (
            username   text COLLATE "C" NOT NULL,
            other      text COLLATE "C" NOT NULL,
            last_id    bigint NOT NULL,
            last_at_ms bigint NOT NULL,
            PRIMARY KEY (username, other)
        );
        CREATE INDEX conversations_by_recency ON conversations (username, last_id);

        CREATE FUNCTION private_messages_conversations() RETURNS trigger LANGUAGE plpgsql AS $body$
        BEGIN
            INSERT INTO conversations AS c (username, other, last_id, last_at_ms) VALUES (NEW.sender, NEW.recipient, NEW.id, NEW.sent_at_ms)
                ON CONFLICT (username, other) DO UPDATE SET last_id = excluded.last_id, last_at_ms = excluded.last_at_ms WHERE excluded.last_id > c.last_id;
            INSERT INTO conversations AS c (username, other, last_id, last_at_ms) VALUES (NEW.recipient, NEW.sender, NEW.id, NEW.sent_at_ms)
                ON CONFLICT (username, other) DO UPDATE SET last_id = excluded.last_id, last_at_ms = excluded.last_at_ms WHERE excluded.last_id > c.last_id;
            RETURN NULL;
        END
        $body$;
        CREATE TRIGGER private_messages_conversations AFTER INSERT ON private_messages FOR EACH ROW EXECUTE FUNCTION private_messages_conversations();

        INSERT INTO conversations (username, other, last_id, last_at_ms)
            SELECT DISTINCT ON (u, o) u, o, id, at FROM (
                SELECT sender AS u, recipient AS o, id, sent_at_ms AS at FROM private_messages
                UNION ALL
                SELECT recipient, sender, id, sent_at_ms FROM private_messages) pairs
            ORDER BY u, o, id DESC;
        INSERT INTO private_reads (username, other, id) SELECT username, other, last_id FROM conversations;

        ALTER TABLE room_messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
            CASE WHEN kind IS NULL AND NOT deleted THEN to_tsvector('simple'::regconfig, regexp_replace(body, '[[:space:][:punct:]]+', ' ', 'g')) END) STORED;
        CREATE INDEX room_messages_search ON room_messages USING gin (search);
        ALTER TABLE private_messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
            to_tsvector('simple'::regconfig, regexp_replace(body, '[[:space:][:punct:]]+', ' ', 'g'))) STORED;
        CREATE INDEX private_messages_search ON private_messages USING gin (search);
        """,

        // Version 6: rooms by owner, as in SQLite (the rooms-created quota is counted in the store).
        """
        CREATE INDEX rooms_by_owner ON rooms (owner) WHERE owner IS NOT NULL;
        """,
    ];

    /// <summary>The version this code writes and understands.</summary>
    public static int CurrentVersion => Migrations.Length;

    /// <summary>
    /// Checks the database and brings it to <see cref="CurrentVersion"/>; returns the version it was found at
    /// (0 for an empty database). Refuses, changing nothing, a database newer than this code or one that holds
    /// tables but no <c>schema_version</c> (not TinyChat's). Holds an advisory lock meanwhile, so nodes that start
    /// together migrate one after the other.
    /// </summary>
    public static async Task<int> MigrateAsync(NpgsqlConnection connection, string where, CancellationToken cancellationToken, int? upTo = null)
    {
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
        await using (var lockCommand = new NpgsqlCommand("SELECT pg_advisory_xact_lock($1)", connection, transaction))
        {
            lockCommand.Parameters.Add(new NpgsqlParameter { Value = MigrationLock });
            await lockCommand.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        var found = await ReadVersionAsync(connection, transaction, where, cancellationToken).ConfigureAwait(false);
        if (found > CurrentVersion)
        {
            throw new StorageException(
                $"the database {where} has schema version {found}, newer than this TinyChat understands ({CurrentVersion}); run a newer TinyChat. The database was left untouched");
        }

        for (var version = found; version < (upTo ?? CurrentVersion); version++)
        {
            await using var migrate = new NpgsqlCommand(Migrations[version], connection, transaction);
            await migrate.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            await using var stamp = new NpgsqlCommand($"UPDATE schema_version SET version = {version + 1}", connection, transaction);
            await stamp.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return found;
    }

    private static async Task<int> ReadVersionAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string where, CancellationToken cancellationToken)
    {
        await using (var tables = new NpgsqlCommand(
            "SELECT count(*), count(*) FILTER (WHERE table_name = 'schema_version') FROM information_schema.tables WHERE table_schema = current_schema()",
            connection,
            transaction))
        {
            await using var reader = await tables.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
            var all = reader.GetInt64(0);
            var versionTable = reader.GetInt64(1);
            if (versionTable == 0)
            {
                return all == 0
                    ? 0
                    : throw new StorageException($"the database {where} holds tables but no schema_version table: it is not a TinyChat database; it was left untouched");
            }
        }

        await using var version = new NpgsqlCommand("SELECT version FROM schema_version", connection, transaction);
        return await version.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is int value
            ? value
            : throw new StorageException($"the database {where} has an empty schema_version table; it was left untouched");
    }
}
