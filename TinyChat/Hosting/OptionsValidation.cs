using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Cluster;
using TinyChat.Protocols.Irc;
using TinyChat.Runtime;
using TinyChat.Storage;
using TinyChat.Storage.Postgres;
using TinyChat.Storage.Sqlite;
using TinyChat.Web;

namespace TinyChat.Hosting;

/// <summary>Start-up checks of every options section; each failure names the key and why, in one line.</summary>
public sealed class OptionsValidation :
    IValidateOptions<ServerOptions>,
    IValidateOptions<WebSocketOptions>,
    IValidateOptions<RuntimeOptions>,
    IValidateOptions<ChatOptions>,
    IValidateOptions<PresenceOptions>,
    IValidateOptions<StorageOptions>,
    IValidateOptions<LimitsOptions>,
    IValidateOptions<IrcOptions>,
    IValidateOptions<ClusterOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ClusterOptions o) => Collect(
        o.NodeName is { } node && (node.Length is 0 or > ClusterOptions.MaxNodeNameLength || node.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
            ? $"Cluster:NodeName must be 1..{ClusterOptions.MaxNodeNameLength} characters without spaces, got \"{node}\"" : null,
        Positive("Cluster:HeartbeatSeconds", o.HeartbeatSeconds),
        Positive("Cluster:NodeTimeoutSeconds", o.NodeTimeoutSeconds),
        o.NodeTimeoutSeconds < 2 * o.HeartbeatSeconds
            ? $"Cluster:NodeTimeoutSeconds must be at least twice Cluster:HeartbeatSeconds ({o.HeartbeatSeconds}), got {o.NodeTimeoutSeconds}" : null);

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, IrcOptions o) => Collect(
        o.Port is < 0 or > 65535 ? $"Irc:Port must be 0..65535 (0 picks a free port), got {o.Port}" : null,
        string.IsNullOrWhiteSpace(o.ServerName) || o.ServerName.Any(c => c is ' ' or ':' or '!' or '@' || char.IsControl(c))
            ? $"Irc:ServerName must be a name without spaces, ':', '!' or '@', got \"{o.ServerName}\"" : null,
        o.Motd.Split('\n').Any(line => line.Length > 350) ? "Irc:Motd: each line has at most 350 characters" : null,
        Positive("Irc:RegistrationTimeoutSeconds", o.RegistrationTimeoutSeconds),
        AtLeast("Irc:MaxUnregisteredConnections", o.MaxUnregisteredConnections, 1),
        AtLeast("Irc:OutboxCapacity", o.OutboxCapacity, 16));

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, LimitsOptions o) => Collect(
        NonNegative("Limits:MessagesPerSecond", o.MessagesPerSecond),
        o.MessagesPerSecond > 0 && o.MessageBurst < 1 ? $"Limits:MessageBurst must be >= 1, got {o.MessageBurst}" : null,
        NonNegative("Limits:FramesPerSecond", o.FramesPerSecond),
        o.FramesPerSecond > 0 && o.FrameBurst < 1 ? $"Limits:FrameBurst must be >= 1, got {o.FrameBurst}" : null,
        AtLeast("Limits:FloodDisconnectAfter", o.FloodDisconnectAfter, 1),
        AtLeast("Limits:MaxConnectionsPerUser", o.MaxConnectionsPerUser, 1),
        AtLeast("Limits:MaxRoomsCreatedPerUser", o.MaxRoomsCreatedPerUser, 0),
        NonNegative("Limits:RegistrationsPerMinutePerAddress", o.RegistrationsPerMinutePerAddress),
        NonNegative("Limits:ConnectionsPerMinutePerAddress", o.ConnectionsPerMinutePerAddress),
        AtLeast("Limits:FailedSignInsPerMinutePerAddress", o.FailedSignInsPerMinutePerAddress, 0),
        o.AllowedOrigins.FirstOrDefault(origin => !Uri.TryCreate(origin, UriKind.Absolute, out _)) is { } bad ? $"Limits:AllowedOrigins: '{bad}' is not an absolute origin like https://chat.example.com" : null,
        AtLeast("Limits:MaxUrlBytes", o.MaxUrlBytes, 256),
        AtLeast("Limits:MaxHeaderBytes", o.MaxHeaderBytes, 1024));

    private static string? NonNegative(string key, double value) =>
        value >= 0 && !double.IsNaN(value) && !double.IsInfinity(value) ? null : $"{key} must be >= 0 (0 = unlimited), got {value}";

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ServerOptions o) => Collect(
        string.IsNullOrWhiteSpace(o.Host) ? "Server:Host must not be empty" : null,
        o.Port is < 0 or > 65535 ? $"Server:Port must be 0..65535 (0 picks a free port), got {o.Port}" : null,
        string.IsNullOrWhiteSpace(o.StaticRoot) ? "Server:StaticRoot must not be empty" : null,
        Positive("Server:ShutdownGraceSeconds", o.ShutdownGraceSeconds),
        AtLeast("Server:MaxRequestBodyBytes", o.MaxRequestBodyBytes, 64),
        Positive("Server:RequestHeadersTimeoutSeconds", o.RequestHeadersTimeoutSeconds),
        AtLeast("Server:MaxPendingConnections", o.MaxPendingConnections, 1),
        o.MaxPendingConnectionsPerAddress < 1 || o.MaxPendingConnectionsPerAddress > o.MaxPendingConnections
            ? $"Server:MaxPendingConnectionsPerAddress must be 1..Server:MaxPendingConnections ({o.MaxPendingConnections}), got {o.MaxPendingConnectionsPerAddress}" : null,
        o.TrustedProxies.FirstOrDefault(p => ClientAddresses.TryParse(p) is null) is { } proxy
            ? $"Server:TrustedProxies: '{proxy}' is not an address or a CIDR range like 10.0.0.0/8" : null);

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, WebSocketOptions o) => Collect(
        o.KeepAliveSeconds < 0 || double.IsNaN(o.KeepAliveSeconds) ? $"WebSocket:KeepAliveSeconds must be >= 0 (0 = off), got {o.KeepAliveSeconds}" : null,
        Positive("WebSocket:IdleTimeoutSeconds", o.IdleTimeoutSeconds),
        AtLeast("WebSocket:MaxMessageBytes", o.MaxMessageBytes, 256),
        AtLeast("WebSocket:OutboxCapacity", o.OutboxCapacity, 1),
        AtLeast("WebSocket:ReceiveBufferBytes", o.ReceiveBufferBytes, 256));

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, RuntimeOptions o) => Collect(
        AtLeast("Runtime:RoomMailboxCapacity", o.RoomMailboxCapacity, 1),
        o.RoomCommitsInFlight is 1 or 2 ? null : $"Runtime:RoomCommitsInFlight must be 1 or 2, got {o.RoomCommitsInFlight}",
        AtLeast("Runtime:SessionMailboxCapacity", o.SessionMailboxCapacity, 1),
        AtLeast("Runtime:MaxRestarts", o.MaxRestarts, 0),
        Positive("Runtime:RestartWindowSeconds", o.RestartWindowSeconds),
        NotNegative("Runtime:IdleRoomSeconds", o.IdleRoomSeconds),
        AtLeast("Runtime:CompactAfterRetiring", o.CompactAfterRetiring, 0));

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, PresenceOptions o) => Collect(
        o.TickMilliseconds is < 0 or > 10_000 ? $"Presence:TickMilliseconds must be 0..10000 (0 = every change at once), got {o.TickMilliseconds}" : null,
        o.CountTickMilliseconds is < 0 or > 10_000 ? $"Presence:CountTickMilliseconds must be 0..10000 (0 = as Presence:TickMilliseconds), got {o.CountTickMilliseconds}" : null,
        AtLeast("Presence:FullStateMaxMembers", o.FullStateMaxMembers, 1));

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ChatOptions o)
    {
        var failures = new List<string?>
        {
            AtLeast("Chat:MaxMessageLength", o.MaxMessageLength, 1),
            o.Registration is "open" or "invite" or "closed" ? null : $"Chat:Registration must be \"open\", \"invite\" or \"closed\", got \"{o.Registration}\"",
        };
        for (var i = 0; i < o.SeedUsers.Count; i++)
        {
            var user = o.SeedUsers[i];
            if (ChatNames.CheckUserName(user.Username) is { } why)
            {
                failures.Add($"Chat:SeedUsers:{i}:Username is invalid: {why}");
            }

            if (string.IsNullOrEmpty(user.Token))
            {
                failures.Add($"Chat:SeedUsers:{i}:Token must not be empty");
            }
        }

        for (var i = 0; i < o.Admins.Count; i++)
        {
            if (ChatNames.CheckUserName(o.Admins[i]) is { } why)
            {
                failures.Add($"Chat:Admins:{i} is invalid: {why}");
            }
        }

        return Collect([.. failures]);
    }

    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, StorageOptions o) => Collect(
        !StorageOptions.IsSqlite(o.Provider) && !StorageOptions.IsMemory(o.Provider) && !StorageOptions.IsPostgres(o.Provider)
            ? $"Storage:Provider must be \"{StorageOptions.Sqlite}\", \"{StorageOptions.Postgres}\" or \"{StorageOptions.Memory}\", got \"{o.Provider}\"" : null,
        StorageOptions.IsPostgres(o.Provider) && PostgresStoreSettings.Problem(o.ConnectionString) is { } problem
            ? $"Storage:ConnectionString {problem} (Storage:Provider is {StorageOptions.Postgres}; set it, or TINYCHAT__Storage__ConnectionString)" : null,
        string.IsNullOrWhiteSpace(o.DataDirectory) ? "Storage:DataDirectory must not be empty" : null,
        AtLeast("Storage:MaxMessagesPerRoom", o.MaxMessagesPerRoom, 0),
        AtLeast("Storage:MaxMessageAgeDays", o.MaxMessageAgeDays, 0),
        Enum.TryParse<SqliteSynchronous>(o.Synchronous, ignoreCase: true, out _) && !int.TryParse(o.Synchronous, out _)
            ? null
            : $"Storage:Synchronous must be \"Full\" or \"Normal\", got \"{o.Synchronous}\"");

    private static string? Positive(string key, double value) =>
        value > 0 && !double.IsNaN(value) && !double.IsInfinity(value) ? null : $"{key} must be a positive number, got {value}";

    private static string? NotNegative(string key, double value) =>
        value >= 0 && !double.IsInfinity(value) ? null : $"{key} must be a number >= 0, got {value}";

    private static string? AtLeast(string key, int value, int min) =>
        value >= min ? null : $"{key} must be >= {min}, got {value}";

    private static ValidateOptionsResult Collect(params string?[] failures)
    {
        var real = failures.Where(f => f is not null).Cast<string>().ToList();
        return real.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(real);
    }
}
