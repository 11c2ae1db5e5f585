namespace TinyChat.Hosting;

/// <summary>The <c>Server</c> section: where TinyChat listens and what it serves.</summary>
public sealed class ServerOptions
{
    /// <summary>Host name or address in the listen prefix; <c>localhost</c>, an IP, or <c>*</c> for every address.</summary>
    public string Host { get; set; } = "localhost";

    /// <summary>TCP port; 0 picks a free port (tests).</summary>
    public int Port { get; set; } = 4000;

    /// <summary>Folder of static files, relative to the executable's folder unless absolute.</summary>
    public string StaticRoot { get; set; } = "static";

    /// <summary>Seconds a shutdown may take before remaining connections are cut.</summary>
    public double ShutdownGraceSeconds { get; set; } = 5;

    /// <summary>Largest accepted HTTP request body.</summary>
    public int MaxRequestBodyBytes { get; set; } = 4096;
}

/// <summary>The <c>WebSocket</c> section: per-connection limits and liveness.</summary>
public sealed class WebSocketOptions
{
    /// <summary>Interval of the server's WebSocket keep-alive frames; 0 turns them off.</summary>
    public double KeepAliveSeconds { get; set; } = 30;

    /// <summary>A connection that sends nothing for this long is closed.</summary>
    public double IdleTimeoutSeconds { get; set; } = 600;

    /// <summary>Largest inbound WebSocket message (fragments reassembled); larger closes with 1009.</summary>
    public int MaxMessageBytes { get; set; } = 64 * 1024;

    /// <summary>Outbound frames queued per connection before it counts as a slow reader and is closed.</summary>
    public int OutboxCapacity { get; set; } = 1024;

    /// <summary>Size of the per-connection receive buffer; larger messages grow a pooled buffer on demand.</summary>
    public int ReceiveBufferBytes { get; set; } = 1024;
}

/// <summary>The <c>Runtime</c> section: mailboxes and supervision.</summary>
public sealed class RuntimeOptions
{
    /// <summary>Mailbox capacity of each room process.</summary>
    public int RoomMailboxCapacity { get; set; } = 4096;

    /// <summary>Mailbox capacity of each user session process.</summary>
    public int SessionMailboxCapacity { get; set; } = 256;

    /// <summary>Restart intensity: at most this many restarts ...</summary>
    public int MaxRestarts { get; set; } = 10;

    /// <summary>... within this many seconds, else the supervisor escalates.</summary>
    public double RestartWindowSeconds { get; set; } = 10;
}

/// <summary>The <c>Chat</c> section: chat rules and seed accounts.</summary>
public sealed class ChatOptions
{
    /// <summary>Longest chat text, in characters.</summary>
    public int MaxMessageLength { get; set; } = 4000;

    /// <summary>Accounts upserted at start.</summary>
    public List<SeedUser> SeedUsers { get; set; } = [];
}

/// <summary>An account from the configuration file.</summary>
public sealed class SeedUser
{
    /// <summary>User name.</summary>
    public string Username { get; set; } = "";

    /// <summary>Access token (a secret: never logged).</summary>
    public string Token { get; set; } = "";
}
