namespace TinyChat.Protocols.Http;

/// <summary>The <c>Sse</c> section: Server-Sent Event streams of the HTTP API.</summary>
public sealed class SseOptions
{
    /// <summary>Seconds between keep-alive comment lines on an idle stream; they also find clients that are gone.</summary>
    public double KeepAliveSeconds { get; set; } = 15;

    /// <summary>The reconnect delay suggested to clients with <c>retry:</c>, in milliseconds.</summary>
    public int RetryMilliseconds { get; set; } = 3000;

    /// <summary>Events queued per stream before it counts as a slow reader and is ended.</summary>
    public int OutboxCapacity { get; set; } = 1024;
}
