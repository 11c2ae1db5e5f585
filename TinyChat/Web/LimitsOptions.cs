namespace TinyChat.Web;

/// <summary>The <c>Limits</c> section: what one client, user or address may do. A rate of 0 turns that limit off.</summary>
public sealed class LimitsOptions
{
    /// <summary>Chat messages (room and private) per user per second, sustained.</summary>
    public double MessagesPerSecond { get; set; } = 10;

    /// <summary>Chat messages a user may send in a burst.</summary>
    public double MessageBurst { get; set; } = 30;

    /// <summary>Frames of any kind per connection per second, sustained.</summary>
    public double FramesPerSecond { get; set; } = 50;

    /// <summary>Frames per connection in a burst.</summary>
    public double FrameBurst { get; set; } = 100;

    /// <summary>A connection refused this many frames in a row for rate is disconnected as a flood.</summary>
    public int FloodDisconnectAfter { get; set; } = 50;

    /// <summary>Open connections per user.</summary>
    public int MaxConnectionsPerUser { get; set; } = 10;

    /// <summary>Rooms one user may create, counted since the server started (0 forbids creating rooms).</summary>
    public int MaxRoomsCreatedPerUser { get; set; } = 20;

    /// <summary>Registrations (<c>POST /api/users</c>) per client address per minute.</summary>
    public double RegistrationsPerMinutePerAddress { get; set; } = 10;

    /// <summary>Invalid access tokens one client address may present per minute before its sign-ins are refused for the rest of that minute (0 = unlimited).</summary>
    public int FailedSignInsPerMinutePerAddress { get; set; } = 10;

    /// <summary>New WebSocket connections per client address per minute.</summary>
    public double ConnectionsPerMinutePerAddress { get; set; } = 120;

    /// <summary>Origins allowed to open WebSockets besides the server's own (e.g. <c>https://chat.example.com</c>).</summary>
    public List<string> AllowedOrigins { get; set; } = [];

    /// <summary>Longest request target (path and query).</summary>
    public int MaxUrlBytes { get; set; } = 8192;

    /// <summary>Largest total of request header names and values.</summary>
    public int MaxHeaderBytes { get; set; } = 16384;
}
