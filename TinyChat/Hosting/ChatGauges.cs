using System.Diagnostics.Metrics;
using TinyChat.Chat;
using TinyChat.Runtime;

namespace TinyChat.Hosting;

/// <summary>
/// Gauges that read state the server keeps anyway, only when a collector asks (a scrape, an export): nothing is
/// counted on the chat path for them. Created on the host's meter factory, under the meter <see cref="ChatMetrics.MeterName"/>.
/// </summary>
public sealed class ChatGauges : IDisposable
{
    private readonly Meter meter;

    /// <summary>Registers the gauges over <paramref name="chat"/>'s rooms and sessions.</summary>
    public ChatGauges(IMeterFactory meters, ChatServer chat)
    {
        meter = meters.Create(ChatMetrics.MeterName);
        meter.CreateObservableGauge("tinychat.rooms", () => chat.Rooms.Running, "{room}", "Rooms whose loop runs now");
        meter.CreateObservableCounter("tinychat.rooms.retired", () => chat.Rooms.Retired, "{room}", "Room loops retired after Runtime:IdleRoomSeconds without use");
        meter.CreateObservableGauge("tinychat.memory.heap", () => GC.GetTotalMemory(false), "By", "Managed heap in use (bytes)");
        meter.CreateObservableGauge("tinychat.memory.resident", () => Environment.WorkingSet, "By", "Resident set of the process (bytes)");
        meter.CreateObservableGauge("tinychat.users.online", () => chat.Sessions.OnlineUsers, "{user}", "Users with at least one open connection");
        meter.CreateObservableGauge("tinychat.mailbox.depth.max", () => MaxDepth(chat), "{message}", "Deepest room mailbox now (messages waiting)");
    }

    /// <inheritdoc />
    public void Dispose() => meter.Dispose();

    private static int MaxDepth(ChatServer chat)
    {
        var max = 0;
        foreach (var room in chat.Rooms.Enumerate())
        {
            max = Math.Max(max, room.MailboxDepth);
        }

        return max;
    }
}
