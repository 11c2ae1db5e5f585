using System.Diagnostics.Metrics;

namespace TinyChat.Runtime;

/// <summary>
/// TinyChat's instruments on the meter <see cref="MeterName"/> (<c>dotnet-counters monitor -n tinychat --counters
/// TinyChat</c>, OpenTelemetry, <c>/metrics</c>). Static, so every layer counts with one line and no constructor
/// changes. Hot paths add once per batch, never per recipient; with no listener an <c>Add</c> does nothing.
/// Gauges that read existing state (rooms, mailbox depth) are observed by <c>Hosting/ChatGauges</c>.
/// </summary>
public static class ChatMetrics
{
    /// <summary>The meter's name.</summary>
    public const string MeterName = "TinyChat";

    private static readonly Meter Meter = new(MeterName, typeof(ChatMetrics).Assembly.GetName().Version?.ToString());

    /// <summary>Open client connections, by <c>protocol</c> (json, phoenix, phoenix_longpoll, sse, irc).</summary>
    public static readonly UpDownCounter<long> Connections = Meter.CreateUpDownCounter<long>(
        "tinychat.connections", "{connection}", "Open client connections, by protocol");

    /// <summary>Chat messages made durable and published, by <c>kind</c> (room, private).</summary>
    public static readonly Counter<long> MessagesAccepted = Meter.CreateCounter<long>(
        "tinychat.messages.accepted", "{message}", "Chat messages stored and published, by kind (room, private)");

    /// <summary>Messages queued into connection outboxes (one per message per recipient connection).</summary>
    public static readonly Counter<long> Deliveries = Meter.CreateCounter<long>(
        "tinychat.deliveries", "{delivery}", "Messages queued into recipient connections' outboxes");

    /// <summary>Client frames (lines, API calls) refused by a rate limit, by <c>protocol</c>.</summary>
    public static readonly Counter<long> RateLimitedFrames = Meter.CreateCounter<long>(
        "tinychat.frames.rate_limited", "{frame}", "Client frames refused by a rate limit, by protocol");

    /// <summary>Connections the server closed for what the client did or may no longer do, by <c>reason</c> (slow_reader, flood, revoked).</summary>
    public static readonly Counter<long> Disconnects = Meter.CreateCounter<long>(
        "tinychat.disconnects", "{connection}", "Connections closed by the server, by reason (slow_reader, flood, revoked)");

    /// <summary>Process loops restarted after a fault, by <c>supervisor</c>.</summary>
    public static readonly Counter<long> Restarts = Meter.CreateCounter<long>(
        "tinychat.process.restarts", "{restart}", "Process loops restarted after a fault, by supervisor");

    /// <summary>Supervisors that gave up (restart intensity exceeded), by <c>supervisor</c>.</summary>
    public static readonly Counter<long> Escalations = Meter.CreateCounter<long>(
        "tinychat.process.escalations", "{escalation}", "Supervisors that exceeded their restart intensity, by supervisor");

    /// <summary>How long one store commit (a group of writes in one transaction) took.</summary>
    public static readonly Histogram<double> CommitDuration = Meter.CreateHistogram<double>(
        "tinychat.store.commit.duration", "s", "Duration of one store commit (a group of writes in one transaction)",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5] });

    /// <summary>Writes committed together in one store transaction.</summary>
    public static readonly Histogram<long> CommitBatchSize = Meter.CreateHistogram<long>(
        "tinychat.store.commit.batch_size", "{write}", "Writes committed together in one store transaction",
        advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024] });

    /// <summary>A tag for <see cref="Connections"/> or <see cref="RateLimitedFrames"/>.</summary>
    public static KeyValuePair<string, object?> Protocol(string protocol) => new("protocol", protocol);

    /// <summary>A tag for <see cref="Disconnects"/>.</summary>
    public static KeyValuePair<string, object?> Reason(string reason) => new("reason", reason);

    /// <summary>A tag for <see cref="MessagesAccepted"/>.</summary>
    public static KeyValuePair<string, object?> Kind(string kind) => new("kind", kind);

    /// <summary>A tag for <see cref="Restarts"/> and <see cref="Escalations"/>.</summary>
    public static KeyValuePair<string, object?> Supervisor(string supervisor) => new("supervisor", supervisor);
}
