using Npgsql;
using NpgsqlTypes;

namespace TinyChat.Storage.Postgres;

/// <summary>
/// Takes a whole copy into an opened (so migrated) <see cref="PostgresStore"/>: binary COPY per table, all in one
/// transaction, so a failed copy leaves the database as empty as it was.
/// </summary>
public sealed class PostgresImport(PostgresStore store) : IStorageTarget
{
    /// <inheritdoc />
    public string Location => store.Location;

    /// <inheritdoc />
    public async Task<bool> IsEmptyAsync(CancellationToken cancellationToken)
    {
        await using var connection = await store.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(
            "SELECT NOT (EXISTS (SELECT 1 FROM accounts) OR EXISTS (SELECT 1 FROM rooms) OR EXISTS (SELECT 1 FROM private_messages))",
            connection);
        return (bool)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
    }

    /// <inheritdoc />
    public async Task<StorageCopyCounts> ImportAsync(IStorageSource source, CancellationToken cancellationToken)
    {
        await using var connection = await store.DataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);

        long users = 0, rooms = 0, memberships = 0, roomMessages = 0, privateMessages = 0;
        await using (var copy = await connection.BeginBinaryImportAsync("COPY accounts (username, token_hash, created_at_ms) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false))
        {
            await foreach (var account in source.AccountsAsync(cancellationToken).ConfigureAwait(false))
            {
                await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(account.Username, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(account.TokenHash, NpgsqlDbType.Bytea, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(account.CreatedAtMs, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                users++;
            }

            await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }

        await using (var copy = await connection.BeginBinaryImportAsync("COPY rooms (name, last_seq, created_at_ms, private, owner, topic) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false))
        {
            await foreach (var room in source.RoomsAsync(cancellationToken).ConfigureAwait(false))
            {
                await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(room.Name, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(room.LastSeq, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(room.CreatedAtMs, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(room.IsPrivate, NpgsqlDbType.Boolean, cancellationToken).ConfigureAwait(false);
                await WriteNullableAsync(copy, room.Owner, cancellationToken).ConfigureAwait(false);
                await WriteNullableAsync(copy, room.Topic, cancellationToken).ConfigureAwait(false);
                rooms++;
            }

            await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }

        var roomIds = new Dictionary<string, long>(StringComparer.Ordinal);
        await using (var ids = new NpgsqlCommand("SELECT name, id FROM rooms", connection, transaction))
        await using (var reader = await ids.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false))
        {
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                roomIds[reader.GetString(0)] = reader.GetInt64(1);
            }
        }

        await using (var copy = await connection.BeginBinaryImportAsync("COPY memberships (room_id, username) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false))
        {
            await foreach (var membership in source.MembershipsAsync(cancellationToken).ConfigureAwait(false))
            {
                await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(roomIds[membership.Room], NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(membership.Username, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                memberships++;
            }

            await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }

        await using (var copy = await connection.BeginBinaryImportAsync("COPY room_standings (room_id, username, standing, until_ms) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false))
        {
            await foreach (var standing in source.StandingsAsync(cancellationToken).ConfigureAwait(false))
            {
                await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(roomIds[standing.Room], NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(standing.Username, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(standing.Standing, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await WriteNullableAsync(copy, standing.UntilMs, cancellationToken).ConfigureAwait(false);
            }

            await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }

        await using (var copy = await connection.BeginBinaryImportAsync("COPY room_messages (room_id, seq, sender, body, sent_at_ms, kind, target, refers_to, until_ms, edited_at_ms, deleted) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false))
        {
            await foreach (var message in source.RoomMessagesAsync(cancellationToken).ConfigureAwait(false))
            {
                await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(roomIds[message.Room], NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(message.Seq, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(message.Sender, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(message.Body, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(message.SentAtMs, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await WriteNullableAsync(copy, message.Kind, cancellationToken).ConfigureAwait(false);
                await WriteNullableAsync(copy, message.Target, cancellationToken).ConfigureAwait(false);
                await WriteNullableAsync(copy, message.RefersTo, cancellationToken).ConfigureAwait(false);
                await WriteNullableAsync(copy, message.UntilMs, cancellationToken).ConfigureAwait(false);
                await WriteNullableAsync(copy, message.EditedAtMs, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(message.Deleted, NpgsqlDbType.Boolean, cancellationToken).ConfigureAwait(false);
                roomMessages++;
            }

            await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }

        // COPY writes the identity column as given (ids are kept); the identity then numbers on after the last id.
        await using (var copy = await connection.BeginBinaryImportAsync("COPY private_messages (id, sender, recipient, body, sent_at_ms) FROM STDIN (FORMAT BINARY)", cancellationToken).ConfigureAwait(false))
        {
            await foreach (var message in source.PrivateMessagesAsync(cancellationToken).ConfigureAwait(false))
            {
                await copy.StartRowAsync(cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(message.Id, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(message.Sender, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(message.Recipient, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(message.Body, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
                await copy.WriteAsync(message.SentAtMs, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
                privateMessages++;
            }

            await copy.CompleteAsync(cancellationToken).ConfigureAwait(false);
        }

        var lastPrivate = await source.LastPrivateMessageIdAsync(cancellationToken).ConfigureAwait(false);
        await using (var numberOn = new NpgsqlCommand("SELECT setval(pg_get_serial_sequence('private_messages', 'id'), greatest($1, 1), $1 > 0)", connection, transaction))
        {
            numberOn.Parameters.Add(new NpgsqlParameter<long> { TypedValue = lastPrivate });
            await numberOn.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
        return new StorageCopyCounts(users, rooms, memberships, roomMessages, privateMessages);
    }

    private static async Task WriteNullableAsync(NpgsqlBinaryImporter copy, string? value, CancellationToken cancellationToken)
    {
        if (value is null)
        {
            await copy.WriteNullAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await copy.WriteAsync(value, NpgsqlDbType.Text, cancellationToken).ConfigureAwait(false);
        }
    }

    private static async Task WriteNullableAsync(NpgsqlBinaryImporter copy, long? value, CancellationToken cancellationToken)
    {
        if (value is { } number)
        {
            await copy.WriteAsync(number, NpgsqlDbType.Bigint, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await copy.WriteNullAsync(cancellationToken).ConfigureAwait(false);
        }
    }
}
