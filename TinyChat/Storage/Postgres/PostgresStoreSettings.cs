using Npgsql;

namespace TinyChat.Storage.Postgres;

/// <summary>Which PostgreSQL database the store uses and how much history it keeps.</summary>
/// <param name="ConnectionString">An Npgsql connection string. It may hold a password: never log it, log <see cref="Location"/>.</param>
/// <param name="Retention">How much history pruning keeps.</param>
public sealed record PostgresStoreSettings(string ConnectionString, RetentionPolicy Retention)
{
    /// <summary>Host, port and database, safe to log.</summary>
    public string Location => Describe(new NpgsqlConnectionStringBuilder(ConnectionString));

    /// <summary>Why a connection string cannot be used, in words that never repeat its values; null when it can.</summary>
    public static string? Problem(string? connectionString)
    {
        if (string.IsNullOrWhiteSpace(connectionString))
        {
            return "is missing";
        }

        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connectionString);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidCastException)
        {
            // Npgsql's messages name the keyword, not its value.
            return "is not a valid PostgreSQL connection string: " + ex.Message;
        }

        return string.IsNullOrWhiteSpace(builder.Host) ? "names no Host (for example Host=db.example.com;Database=tinychat;Username=tinychat)" : null;
    }

    /// <summary>Host, port and database of a connection string (the database defaults to the user name, as in PostgreSQL).</summary>
    internal static string Describe(NpgsqlConnectionStringBuilder builder) =>
        $"{builder.Host}:{builder.Port}/{builder.Database ?? builder.Username ?? "(default)"}";

    /// <summary>Never prints the connection string.</summary>
    public override string ToString() => $"PostgresStoreSettings {{ Location = {Location}, Retention = {Retention} }}";
}
