using System.Text;
using Microsoft.Data.Sqlite;
using SQLitePCL;
using TinyChat.Chat;

namespace TinyChat.Storage.Sqlite;

/// <summary>
/// The multi-row INSERT of a room's chat messages, bound by position through SQLite's own API. Microsoft.Data.Sqlite
/// binds by name and looks every name up again on every execution (a linear search of the statement's names, one
/// string compare each): with 160 parameters that was most of the writer's own CPU per message.
/// </summary>
internal sealed class RoomMessageInsert : IDisposable
{
    private const int Columns = 5;
    private const int Done = 101;

    private readonly SqliteConnection connection;
    private readonly sqlite3_stmt statement;
    private byte[] utf8 = new byte[1024];

    public RoomMessageInsert(SqliteConnection connection, int rows)
    {
        this.connection = connection;
        Rows = rows;
        var values = string.Join(", ", Enumerable.Repeat("(?, ?, ?, ?, ?)", rows));
        Check(raw.sqlite3_prepare_v2(connection.Handle, $"INSERT INTO room_messages (room_id, seq, sender, body, sent_at_ms) VALUES {values}", out statement));
    }

    /// <summary>Messages per execution.</summary>
    public int Rows { get; }

    /// <summary>Inserts <see cref="Rows"/> messages from <paramref name="first"/>, numbered from <paramref name="firstSeq"/> + <paramref name="first"/>.</summary>
    public void Insert(long roomId, long firstSeq, IReadOnlyList<NewRoomMessage> messages, int first)
    {
        try
        {
            for (var row = 0; row < Rows; row++)
            {
                var message = messages[first + row];
                var at = (Columns * row) + 1;
                Check(raw.sqlite3_bind_int64(statement, at, roomId));
                Check(raw.sqlite3_bind_int64(statement, at + 1, firstSeq + first + row));
                BindText(at + 2, message.From);
                BindText(at + 3, message.Text);
                Check(raw.sqlite3_bind_int64(statement, at + 4, message.Timestamp.ToUnixTimeMilliseconds()));
            }

            var rc = raw.sqlite3_step(statement);
            if (rc != Done)
            {
                Check(rc);
            }
        }
        finally
        {
            // A failed step leaves the statement to be reset before its next use; the error was read before this.
            raw.sqlite3_reset(statement);
        }
    }

    public void Dispose() => statement.Dispose();

    // SQLite copies the bytes (SQLITE_TRANSIENT), so one buffer serves every value.
    private void BindText(int index, string text)
    {
        var needed = Encoding.UTF8.GetMaxByteCount(text.Length);
        if (needed > utf8.Length)
        {
            utf8 = new byte[Math.Max(needed, utf8.Length * 2)];
        }

        var length = Encoding.UTF8.GetBytes(text, utf8);
        Check(raw.sqlite3_bind_text(statement, index, utf8.AsSpan(0, length)));
    }

    private void Check(int rc)
    {
        if (rc != raw.SQLITE_OK)
        {
            SqliteException.ThrowExceptionForRC(rc, connection.Handle);
        }
    }
}
