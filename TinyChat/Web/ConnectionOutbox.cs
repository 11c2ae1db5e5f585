using System.Threading.Channels;
using TinyChat.Chat;
using TinyChat.Runtime;

namespace TinyChat.Web;

/// <summary>Bytes already encoded for one connection only (an answer carrying that client's request reference).</summary>
public readonly record struct Reply(ReadOnlyMemory<byte> Bytes);

/// <summary>
/// A protocol's wire format on one connection: which shared encoder turns chat events into bytes, and how a run of
/// encoded items queued together becomes the frames a transport writes (one joined frame, one frame each, lines).
/// </summary>
public interface IFrameEncoder : IDisposable
{
    /// <summary>The protocol variant's event encoder: an event is encoded once per encoder for all its recipients.</summary>
    IEventEncoder Events { get; }

    /// <summary>
    /// Appends to <paramref name="frames"/> the frames that carry <paramref name="items"/> (at least one), in order.
    /// The frames may point into a buffer the encoder reuses: they are valid until the next call or disposal. Only
    /// the outbox's writer loop calls this, one call at a time.
    /// </summary>
    void Frame(IReadOnlyList<ReadOnlyMemory<byte>> items, List<ReadOnlyMemory<byte>> frames);

    /// <summary>
    /// <see cref="Frame(IReadOnlyList{ReadOnlyMemory{byte}}, List{ReadOnlyMemory{byte}})"/> told which event each item
    /// encodes (null for a <see cref="Reply"/>), for a framing that merges events (the native protocol's groups);
    /// the outbox calls this one.
    /// </summary>
    void Frame(IReadOnlyList<ReadOnlyMemory<byte>> items, IReadOnlyList<ChatEvent?> events, List<ReadOnlyMemory<byte>> frames) =>
        Frame(items, frames);

    /// <summary>
    /// Encodes a room's whole batch as one item, once for every connection of this wire format (null: the protocol
    /// frames event by event, or a batch's events cannot be one item). Its bytes join the run as a reply's would.
    /// </summary>
    IBatchEncoder? Batches => null;

    /// <summary>
    /// The frames of the last Frame call are written and nothing more is queued: gives back any buffer
    /// held for them, so that an idle connection holds none. Only the outbox's writer loop calls this.
    /// </summary>
    void Release()
    {
    }
}

/// <summary>
/// The bounded outbound queue of one connection and its single writer loop: the only way to send on its transport,
/// so writes never overlap and order is preserved. Items queued while a write is in flight go out together.
/// A full queue means a slow reader: the connection is closed with a reason and receives nothing more; nobody
/// who delivers ever waits.
/// </summary>
public sealed class ConnectionOutbox : IOutbox
{
    /// <summary>How long a close that sends what is queued (shutdown) may take before the transport is aborted.</summary>
    public static readonly TimeSpan DrainGrace = TimeSpan.FromSeconds(4);

    /// <summary>How long a close that drops what is queued (slow reader, violation) may take before the transport is aborted.</summary>
    public static readonly TimeSpan DiscardGrace = TimeSpan.FromSeconds(1);

    /// <summary>The close code and reason a slow reader gets (RFC 6455 1008, policy violation).</summary>
    public const int SlowReaderCode = 1008;

    /// <inheritdoc cref="SlowReaderCode"/>
    public const string SlowReaderReason = "slow reader: outbound queue full";

    /// <summary>The close code of a connection whose user may no longer connect (RFC 6455 1008, policy violation).</summary>
    public const int RevokedCode = 1008;

    // A run stops growing past this many encoded bytes, so one write (and any joined frame) stays bounded.
    private const int MaxRunBytes = 64 * 1024;

    // Unbounded as a channel, bounded by `queued`: a room's batch is one item that counts as its events.
    private readonly Channel<Outbound> queue;
    private readonly ITransport transport;
    private readonly IFrameEncoder encoder;
    private readonly TimeProvider time;
    private readonly TaskCompletionSource closed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly List<ReadOnlyMemory<byte>> run = [];
    private readonly List<ChatEvent?> runEvents = [];
    private readonly List<ReadOnlyMemory<byte>> frames = [];
    private TaskCompletionSource? queuedWaiter;

    // Events and replies queued and not yet taken by the writer.
    private int queued;

    // A batch the last run stopped in (it reached MaxRunBytes), and its first event not yet taken.
    private Outbound rest;
    private int restFrom;
    private int wakeAtMost;
    private int closing;
    private volatile bool discardPending;
    private volatile bool closeSent;
    private int closeCode = 1000;
    private string closeReason = "";

    /// <summary>An outbox of <paramref name="capacity"/> items over <paramref name="transport"/>; it owns and disposes <paramref name="encoder"/>.</summary>
    public ConnectionOutbox(ITransport transport, IFrameEncoder encoder, int capacity, TimeProvider? time = null)
    {
        this.transport = transport;
        this.encoder = encoder;
        this.time = time ?? TimeProvider.System;
        Capacity = capacity;
        queue = Channel.CreateUnbounded<Outbound>(new UnboundedChannelOptions
        {
            SingleReader = true,
            SingleWriter = false,
            AllowSynchronousContinuations = false,
        });
    }

    /// <summary>How many events and replies the queue holds; one more closes the connection as a slow reader.</summary>
    public int Capacity { get; }

    /// <summary>The close code the server chose, once it closed.</summary>
    public int? CloseCode { get; private set; }

    /// <summary>Why the server closed the connection, once it did.</summary>
    public string? CloseReason { get; private set; }

    /// <summary>Whether the connection is closing: nothing more is accepted.</summary>
    public bool IsClosing => Volatile.Read(ref closing) != 0;

    /// <summary>Completes when <see cref="RunAsync"/> has ended (writer loop and receive side both done).</summary>
    public Task Closed => closed.Task;

    /// <inheritdoc />
    public bool TryDeliver(ChatEvent chatEvent) => TryQueue(new Outbound(chatEvent, default, null), 1);

    /// <inheritdoc />
    public bool TryDeliverBatch(IReadOnlyList<ChatEvent> batch) =>
        batch.Count == 0 || TryQueue(new Outbound(null, default, batch), batch.Count);

    /// <summary>Queues a reply, in order with events. Never blocks; false when the queue was full (the connection is then closed as a slow reader).</summary>
    public bool TryDeliver(Reply reply) => TryQueue(new Outbound(null, reply.Bytes, null), 1);

    /// <summary>
    /// Closes the connection from the server side with a code and a reason; the first close wins. Never blocks. With
    /// <paramref name="drain"/>, items already queued are written first (shutdown); without, they are dropped (slow
    /// reader, protocol violation). If the connection has not ended within a grace period, the transport is aborted.
    /// </summary>
    public void Close(int code, string reason, bool drain)
    {
        if (Interlocked.Exchange(ref closing, 1) != 0)
        {
            return;
        }

        closeCode = code;
        closeReason = reason;
        CloseCode = code;
        CloseReason = reason;
        discardPending = !drain;
        queue.Writer.TryComplete();
        _ = AbortIfStuckAsync(drain ? DrainGrace : DiscardGrace);
    }

    /// <inheritdoc />
    public void Disconnect(string reason) => Close(RevokedCode, reason, drain: false);

    /// <summary>
    /// Completes once at most <paramref name="items"/> are queued (checked as the writer loop writes), or the connection
    /// is closing. For a connection's own loop sending more than the queue holds (a catch-up), so it never fills the
    /// queue that live events share; rooms never wait on it. One waiter at a time.
    /// </summary>
    public Task WhenQueuedAtMostAsync(int items, CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref queued) <= items || IsClosing)
        {
            return Task.CompletedTask;
        }

        var waiter = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref wakeAtMost, items);
        Volatile.Write(ref queuedWaiter, waiter);

        // The writer may have taken enough between the check and the write above, and then nobody would wake us.
        if (Volatile.Read(ref queued) <= items || IsClosing || closed.Task.IsCompleted)
        {
            waiter.TrySetResult();
        }

        return waiter.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Cuts the connection at once (see <see cref="ITransport.Abort"/>).</summary>
    public void Abort() => transport.Abort();

    /// <summary>
    /// Runs the writer loop while <paramref name="receive"/> (the connection's receive side) runs; when the receive side
    /// ends, the rest is dropped and the transport closed. Ends when both are done; exceptions of either propagate.
    /// </summary>
    public async Task RunAsync(Func<Task> receive)
    {
        var writer = WriteLoopAsync();
        try
        {
            await receive().ConfigureAwait(false);
        }
        finally
        {
            // The peer is gone or said goodbye: nothing queued can reach it any more.
            if (Interlocked.Exchange(ref closing, 1) == 0)
            {
                discardPending = true;
            }

            queue.Writer.TryComplete();
            try
            {
                await writer.ConfigureAwait(false);
            }
            finally
            {
                closed.TrySetResult();
            }
        }
    }

    private bool TryQueue(Outbound item, int count)
    {
        if (Interlocked.Add(ref queued, count) <= Capacity && queue.Writer.TryWrite(item))
        {
            return true;
        }

        // Full, or closing (the channel is completed then). A batch that does not fit is not queued in part.
        Interlocked.Add(ref queued, -count);

        if (Volatile.Read(ref closing) == 0)
        {
            ChatMetrics.Disconnects.Add(1, ChatMetrics.Reason("slow_reader"));
            Close(SlowReaderCode, SlowReaderReason, drain: false);
        }

        return false;
    }

    private async Task WriteLoopAsync()
    {
        var reader = queue.Reader;
        try
        {
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (!discardPending && TakeRun(reader))
                {
                    encoder.Frame(run, runEvents, frames);
                    try
                    {
                        if (frames.Count == 1)
                        {
                            await transport.WriteAsync(frames[0], CancellationToken.None).ConfigureAwait(false);
                        }
                        else
                        {
                            await transport.WriteManyAsync(frames, CancellationToken.None).ConfigureAwait(false);
                        }
                    }
                    catch (Exception ex) when (IsLostConnection(ex))
                    {
                        transport.Abort();
                        return;
                    }

                    WakeQueuedWaiter(final: false);
                }

                // Drained: an idle connection keeps no framing buffer (thousands of idle connections would).
                encoder.Release();
                if (discardPending)
                {
                    break;
                }
            }

            try
            {
                await transport.CloseAsync(closeCode, closeReason, CancellationToken.None).ConfigureAwait(false);
                closeSent = true;
            }
            catch (Exception ex) when (IsLostConnection(ex))
            {
                transport.Abort();
            }
        }
        finally
        {
            run.Clear();
            runEvents.Clear();
            frames.Clear();
            rest = default;
            encoder.Dispose();
            WakeQueuedWaiter(final: true);
        }
    }

    private void WakeQueuedWaiter(bool final)
    {
        if (Volatile.Read(ref queuedWaiter) is not null && (final || Volatile.Read(ref queued) <= Volatile.Read(ref wakeAtMost)))
        {
            Interlocked.Exchange(ref queuedWaiter, null)?.TrySetResult();
        }
    }

    // Takes what is queued now, up to the run limit, encoded; shared events are encoded once for all connections.
    // A batch is taken event by event, and one that reaches the limit is finished by the next run.
    private bool TakeRun(ChannelReader<Outbound> reader)
    {
        run.Clear();
        runEvents.Clear();
        frames.Clear();
        var bytes = 0;
        var taken = 0;
        while (bytes < MaxRunBytes)
        {
            Outbound item;
            var from = 0;
            if (rest.Batch is not null)
            {
                (item, from) = (rest, restFrom);
                rest = default;
            }
            else if (!reader.TryRead(out item))
            {
                break;
            }

            if (item.Batch is { } batch)
            {
                if (from == 0 && batch is EventBatch whole && encoder.Batches is { } batches && whole.EncodeWith(batches) is { } framed)
                {
                    // Framed once for every member: this connection adds no per-event work of its own.
                    if (!framed.IsEmpty)
                    {
                        run.Add(framed);
                        runEvents.Add(null);
                        bytes += framed.Length;
                    }

                    taken += whole.Count;
                    continue;
                }

                var i = from;
                var count = batch.Count;
                var events = (batch as EventBatch)?.Events ?? batch as ChatEvent[];
                if (events is not null)
                {
                    for (; i < count && bytes < MaxRunBytes; i++)
                    {
                        bytes += Take(events[i], default);
                    }
                }
                else
                {
                    for (; i < count && bytes < MaxRunBytes; i++)
                    {
                        bytes += Take(batch[i], default);
                    }
                }

                taken += i - from;
                if (i < count)
                {
                    (rest, restFrom) = (item, i);
                }
            }
            else
            {
                bytes += Take(item.Event, item.Bytes);
                taken++;
            }
        }

        if (taken > 0)
        {
            Interlocked.Add(ref queued, -taken);
        }

        return run.Count > 0;
    }

    // Adds one event (or reply) to the run and returns its encoded length. An event the protocol does not show
    // encodes to nothing and is not written.
    private int Take(ChatEvent? chatEvent, ReadOnlyMemory<byte> reply)
    {
        var encoded = chatEvent is not null ? chatEvent.EncodeWith(encoder.Events) : reply;
        if (encoded.IsEmpty && chatEvent is not null)
        {
            return 0;
        }

        run.Add(encoded);
        runEvents.Add(chatEvent);
        return encoded.Length;
    }

    private static bool IsLostConnection(Exception ex) => ex is IOException or OperationCanceledException or ObjectDisposedException;

    private async Task AbortIfStuckAsync(TimeSpan grace)
    {
        // A slow reader's transport may never drain enough to carry the goodbye, and a peer may never answer it.
        await Task.WhenAny(closed.Task, Task.Delay(grace, time)).ConfigureAwait(false);
        if (!closed.Task.IsCompleted && closeSent && LingeringClose.MaxTime > grace)
        {
            // Our goodbye is out and the peer may still be sending (the rest of an oversized message): closing now
            // would reset the connection and lose the goodbye, so wait for its answer up to the lingering time.
            await Task.WhenAny(closed.Task, Task.Delay(LingeringClose.MaxTime - grace, time)).ConfigureAwait(false);
        }

        // Asked of the task, not of which one won: an end that just happened must win over the timer.
        if (!closed.Task.IsCompleted)
        {
            transport.Abort();
        }
    }

    // One queued item: a shared event (encoded through the cache), a room's batch of them, or bytes for this
    // connection alone.
    private readonly record struct Outbound(ChatEvent? Event, ReadOnlyMemory<byte> Bytes, IReadOnlyList<ChatEvent>? Batch);
}
