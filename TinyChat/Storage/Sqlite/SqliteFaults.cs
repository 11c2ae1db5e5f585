using Microsoft.Data.Sqlite;

namespace TinyChat.Storage.Sqlite;

/// <summary>
/// Which SQLite failures are the file's (disk full, I/O error, read-only, locked out) rather than one request's (a
/// constraint, a bug): the former refuse every write alike until the file can be written again, so they are an
/// outage, not a fault of the request or of the loop that sent it.
/// </summary>
internal static class SqliteFaults
{
    // Primary result codes (https://www.sqlite.org/rescode.html); extended codes carry them in the low byte.
    private const int Perm = 3;
    private const int Busy = 5;
    private const int Locked = 6;
    private const int ReadOnly = 8;
    private const int IoErr = 10;
    private const int Full = 13;
    private const int CantOpen = 14;

    /// <summary>Whether <paramref name="exception"/> says the file cannot be written now, for every request alike.</summary>
    public static bool IsOutage(Exception exception) =>
        exception is SqliteException sqlite && (sqlite.SqliteErrorCode & 0xFF) is Perm or Busy or Locked or ReadOnly or IoErr or Full or CantOpen;

    /// <summary>The kind of trouble in words a client may read: never the path or SQLite's own message.</summary>
    public static string Cause(Exception exception) => exception is SqliteException sqlite
        ? (sqlite.SqliteErrorCode & 0xFF) switch
        {
            Full => "the disk is full",
            IoErr => "a disk I/O error",
            ReadOnly or Perm or CantOpen => "the data file cannot be written",
            Busy or Locked => "the data file is locked",
            _ => "the data file cannot be written",
        }
        : "the data file cannot be written";
}
