using System.Net;
using TinyChat.Web;

namespace TinyChat.Protocols.Http;

/// <summary>
/// One Server-Sent Events connection: a <see cref="ConnectionOutbox"/> (bounded queue, slow-reader cut-off, single
/// writer) over an <see cref="SseTransport"/>, the <see cref="StreamGate"/> its session delivers into, and a
/// keep-alive comment every interval while it is open.
/// </summary>
public sealed class EventStream
{
    private static long nextId;
    private readonly SseTransport transport;
    private readonly ConnectionOutbox outbox;
    private readonly SseFrameEncoder frames;
    private readonly TimeProvider time;

    /// <summary>A stream over <paramref name="context"/>'s response (not yet started) for <paramref name="user"/>.</summary>
    public EventStream(HttpListenerContext context, SseEventEncoder encoder, string? room, string user, int capacity, TimeProvider time)
    {
        this.time = time;
        User = user;
        transport = new SseTransport(context);
        frames = new SseFrameEncoder(encoder);
        outbox = new ConnectionOutbox(transport, frames, capacity, time);
        Gate = new StreamGate(outbox, room, capacity);
    }

    /// <summary>Stream number for logs.</summary>
    public long Id { get; } = Interlocked.Increment(ref nextId);

    /// <summary>The authenticated user.</summary>
    public string User { get; }

    /// <summary>Where the user's session delivers.</summary>
    public StreamGate Gate { get; }

    /// <summary>
    /// A user stream's position (what its message ids say), moved by the writer loop from here on. Set once, before
    /// any message is queued: the queue hands it over to the writer.
    /// </summary>
    public StreamCursor? Cursor
    {
        get => frames.Cursor;
        set => frames.Cursor = value;
    }

    /// <summary>Why the server ended the stream, once it did.</summary>
    public string? CloseReason => outbox.CloseReason;

    /// <summary>Completes when the stream has ended.</summary>
    public Task Closed => outbox.Closed;

    /// <summary>Queues bytes for this stream alone (the retry hint, keep-alives).</summary>
    public bool TrySend(ReadOnlyMemory<byte> bytes) => outbox.TryDeliver(new Reply(bytes));

    /// <summary>Ends the stream; with <paramref name="drain"/> after what is queued (shutdown, a replay cut short).</summary>
    public void Close(string reason, bool drain) => outbox.Close(drain ? 1001 : 1008, reason, drain);

    /// <summary>Cuts the stream at once.</summary>
    public void Abort() => outbox.Abort();

    /// <summary>Writes until the stream ends: the client goes away, the server closes it, or it reads too slowly.</summary>
    public async Task RunAsync(TimeSpan keepAlive)
    {
        using var stop = new CancellationTokenSource();
        var keepingAlive = keepAlive > TimeSpan.Zero ? KeepAliveAsync(keepAlive, stop.Token) : Task.CompletedTask;
        try
        {
            await outbox.RunAsync(() => transport.Ended).ConfigureAwait(false);
        }
        finally
        {
            await stop.CancelAsync().ConfigureAwait(false);
            await keepingAlive.ConfigureAwait(false);
        }
    }

    private async Task KeepAliveAsync(TimeSpan interval, CancellationToken cancellationToken)
    {
        // Also how a vanished client is noticed: HTTP gives no other sign, so the write that fails ends the stream.
        using var timer = new PeriodicTimer(interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false) && TrySend(SseEventEncoder.KeepAlive))
            {
            }
        }
        catch (OperationCanceledException)
        {
        }
    }
}
