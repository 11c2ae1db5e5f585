using System.Runtime.CompilerServices;
using Microsoft.Data.Sqlite;

namespace TinyChat.Storage.Sqlite;

/// <summary>
/// Reads a whole SQLite store for <see cref="StorageCopy"/>. The store must be open: that holds the data
/// directory's lock (no server writes meanwhile) and has brought the file to the current schema.
/// </summary>
public sealed class SqliteExport(SqliteStore store) : IStorageSource
{
    private readonly string connectionString = new SqliteConnectionStringBuilder
    {
        DataSource = store.DatabasePath,
        Mode = SqliteOpenMode.ReadOnly,
        Pooling = false,
    }.ToString();

    /// <inheritdoc />
    public IAsyncEnumerable<CopiedAccount> AccountsAsync(CancellationToken cancellationToken) =>
        RowsAsync("SELECT username, token_hash, created_at_ms FROM accounts ORDER BY username", r => new CopiedAccount(r.GetString(0), (byte[])r.GetValue(1), r.GetInt64(2)), cancellationToken);

    /// <inheritdoc />
    public IAsyncEnumerable<CopiedRoom> RoomsAsync(CancellationToken cancellationToken) =>
        RowsAsync(
            "SELECT name, last_seq, created_at_ms, private, owner, topic FROM rooms ORDER BY id",
            r => new CopiedRoom(r.GetString(0), r.GetInt64(1), r.GetInt64(2))
            {
                IsPrivate = r.GetInt64(3) != 0,
                Owner = r.IsDBNull(4) ? null : r.GetString(4),
                Topic = r.IsDBNull(5) ? null : r.GetString(5),
            },
            cancellationToken);

    /// <inheritdoc />
    public IAsyncEnumerable<CopiedStanding> StandingsAsync(CancellationToken cancellationToken) =>
        RowsAsync(
            "SELECT r.name, s.username, s.standing, s.until_ms FROM room_standings s JOIN rooms r ON r.id = s.room_id ORDER BY r.id, s.username, s.standing",
            r => new CopiedStanding(r.GetString(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetInt64(3)),
            cancellationToken);

    /// <inheritdoc />
    public IAsyncEnumerable<CopiedMembership> MembershipsAsync(CancellationToken cancellationToken) =>
        RowsAsync(
            "SELECT r.name, m.username FROM memberships m JOIN rooms r ON r.id = m.room_id ORDER BY r.id, m.username",
            r => new CopiedMembership(r.GetString(0), r.GetString(1)),
            cancellationToken);

    /// <inheritdoc />
    public IAsyncEnumerable<CopiedRoomMessage> RoomMessagesAsync(CancellationToken cancellationToken) =>
        RowsAsync(
            "SELECT r.name, m.seq, m.sender, m.body, m.sent_at_ms, m.kind, m.target, m.refers_to, m.until_ms, m.edited_at_ms, m.deleted FROM room_messages m JOIN rooms r ON r.id = m.room_id ORDER BY m.id",
            r => new CopiedRoomMessage(r.GetString(0), r.GetInt64(1), r.GetString(2), r.GetString(3), r.GetInt64(4))
            {
                Kind = r.IsDBNull(5) ? null : r.GetString(5),
                Target = r.IsDBNull(6) ? null : r.GetString(6),
                RefersTo = r.IsDBNull(7) ? null : r.GetInt64(7),
                UntilMs = r.IsDBNull(8) ? null : r.GetInt64(8),
                EditedAtMs = r.IsDBNull(9) ? null : r.GetInt64(9),
                Deleted = r.GetInt64(10) != 0,
            },
            cancellationToken);

    /// <inheritdoc />
    public IAsyncEnumerable<CopiedPrivateMessage> PrivateMessagesAsync(CancellationToken cancellationToken) =>
        RowsAsync(
            "SELECT id, sender, recipient, body, sent_at_ms FROM private_messages ORDER BY id",
            r => new CopiedPrivateMessage(r.GetInt64(0), r.GetString(1), r.GetString(2), r.GetString(3), r.GetInt64(4)),
            cancellationToken);

    /// <summary>The highest private message id ever handed out (kept by AUTOINCREMENT even when pruned), 0 when none.</summary>
    public async Task<long> LastPrivateMessageIdAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(connectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'private_messages'), 0)";
            return (long)(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false))!;
        }
    }

    private async IAsyncEnumerable<T> RowsAsync<T>(string sql, Func<SqliteDataReader, T> read, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(connectionString);
        await using (connection.ConfigureAwait(false))
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            using var command = connection.CreateCommand();
            command.CommandText = sql;
            using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                yield return read(reader);
            }
        }
    }
}
