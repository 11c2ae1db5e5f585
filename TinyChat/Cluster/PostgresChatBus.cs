using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;
using TinyChat.Chat;

namespace TinyChat.Cluster;

/// <summary>
/// The bus of a cluster node: subscribers on this node are called synchronously, as on a single node; other nodes
/// are reached through PostgreSQL <c>NOTIFY</c> on one channel, and their notifications come back through a
/// <c>LISTEN</c> connection.
/// </summary>
/// <remarks>
/// <para>
/// Three loops, so the publisher never waits on the network. <see cref="Publish"/> calls the local subscribers and
/// queues the message (bounded: when PostgreSQL falls that far behind, the newest notices are dropped and counted;
/// rooms heal from the store). The writer loop takes what is queued, encodes it (<see cref="BusWire"/>: one
/// notification per room batch, inline or by id range) and sends it in one round trip, retrying with backoff while
/// the database is away. The listener loop holds a dedicated connection with <c>LISTEN</c>, reconnecting with
/// backoff; each time it is back after a loss it tells every local subscriber <see cref="BusResumed"/>. The
/// dispatch loop decodes notifications in arrival order, skips this bus's own, reads references back from the
/// store, and calls the local subscribers.
/// </para>
/// <para>Notifications are not durable; the store is. Who needs every message (a room) catches up by id.</para>
/// </remarks>
public sealed class PostgresChatBus : IChatBus, IAsyncDisposable
{
    /// <summary>The one <c>LISTEN</c>/<c>NOTIFY</c> channel of a TinyChat database.</summary>
    public const string Channel = "tinychat";

    /// <summary>The <c>application_name</c> of each node's <c>LISTEN</c> connection, followed by its <see cref="Origin"/>.</summary>
    public const string ListenerApplicationPrefix = "tinychat-listen-";

    private const int QueueCapacity = 65_536;
    private const int MaxNotificationsPerRoundTrip = 256;
    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan IdleCheck = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan GiveUpSending = TimeSpan.FromSeconds(30);

    private readonly InProcessChatBus local;
    private readonly NpgsqlDataSource writerSource;
    private readonly NpgsqlDataSource listenerSource;
    private readonly IMessageStore store;
    private readonly TimeProvider time;
    private readonly ILogger logger;
    private readonly Channel<(ChatTopic Topic, ChatBusMessage Message)> outgoing =
        System.Threading.Channels.Channel.CreateBounded<(ChatTopic, ChatBusMessage)>(new BoundedChannelOptions(QueueCapacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });

    // Raw payloads in arrival order; null marks "the listener is back after a loss".
    private readonly Channel<string?> incoming = System.Threading.Channels.Channel.CreateUnbounded<string?>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource stopping = new();
    private readonly TaskCompletionSource listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task[] loops;
    private long dropped;
    private long sent;
    private long received;
    private int connected;
    private ListenerStatus listenerStatus;

    private PostgresChatBus(string connectionString, IMessageStore store, TimeProvider time, ILogger logger)
    {
        local = new InProcessChatBus(logger as ILogger<InProcessChatBus>);
        var writer = new NpgsqlConnectionStringBuilder(connectionString) { ApplicationName = "tinychat-bus" };
        writerSource = NpgsqlDataSource.Create(writer);

        // Its own unpooled connection: LISTEN is session state that a pool would reset or hand to someone else.
        var listener = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, ApplicationName = ListenerApplicationPrefix + Origin };
        listenerSource = NpgsqlDataSource.Create(listener);
        this.store = store;
        this.time = time;
        this.logger = logger;
        listenerStatus = new ListenerStatus(false, "not connected yet", time.GetUtcNow());
        loops = [Task.Run(WriteLoopAsync), Task.Run(ListenLoopAsync), Task.Run(DispatchLoopAsync)];
    }

    /// <summary>This bus instance on the wire (a restarted node is a new one).</summary>
    public string Origin { get; } = Guid.NewGuid().ToString("N")[..12];

    /// <summary>Whether the <c>LISTEN</c> connection is up now.</summary>
    public bool Listening => Volatile.Read(ref connected) == 1;

    /// <summary>The <c>LISTEN</c> connection now: up, or down since when and why (down "not connected yet" from the start).</summary>
    public ListenerStatus Listener => Volatile.Read(ref listenerStatus);

    /// <summary>Notifications sent, received from other nodes, and dropped because the queue was full.</summary>
    public (long Sent, long Received, long Dropped) Counts => (Interlocked.Read(ref sent), Interlocked.Read(ref received), Interlocked.Read(ref dropped));

    /// <summary>Starts the bus's loops; it connects (and keeps reconnecting) in the background.</summary>
    /// <param name="connectionString">The PostgreSQL database every node shares.</param>
    /// <param name="store">Where batches sent by reference are read back.</param>
    /// <param name="time">The clock of the backoff.</param>
    /// <param name="logger">Where connection losses and dropped notices are reported.</param>
    public static PostgresChatBus Start(string connectionString, IMessageStore store, TimeProvider time, ILogger<PostgresChatBus>? logger = null) =>
        new(connectionString, store, time, (ILogger?)logger ?? NullLogger.Instance);

    /// <summary>Completes once the first <c>LISTEN</c> is in place (notifications sent before are not seen here).</summary>
    public Task WhenListeningAsync(CancellationToken cancellationToken) => listening.Task.WaitAsync(cancellationToken);

    /// <inheritdoc />
    public void Publish(ChatTopic topic, ChatBusMessage message)
    {
        local.Publish(topic, message);
        if (message is BusResumed)
        {
            return;
        }

        if (!outgoing.Writer.TryWrite((topic, message)) && !stopping.IsCancellationRequested && Interlocked.Increment(ref dropped) % 1000 == 1)
        {
            logger.LogWarning("Bus queue full ({Capacity}): notices to other nodes are being dropped ({Dropped} so far); rooms there catch up from the store", QueueCapacity, Interlocked.Read(ref dropped));
        }
    }

    /// <inheritdoc />
    public IDisposable Subscribe(ChatTopic topic, IChatBusSubscriber subscriber) => local.Subscribe(topic, subscriber);

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (stopping.IsCancellationRequested)
        {
            return;
        }

        // Let the writer send what is queued (briefly), then stop everything.
        outgoing.Writer.TryComplete();
        await Task.WhenAny(loops[0], Task.Delay(TimeSpan.FromSeconds(2), time)).ConfigureAwait(false);
        await stopping.CancelAsync().ConfigureAwait(false);
        incoming.Writer.TryComplete();
        try
        {
            await Task.WhenAll(loops).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await writerSource.DisposeAsync().ConfigureAwait(false);
        await listenerSource.DisposeAsync().ConfigureAwait(false);
        stopping.Dispose();
    }

    private async Task WriteLoopAsync()
    {
        var token = stopping.Token;
        var batch = new List<string>(MaxNotificationsPerRoundTrip);
        NpgsqlConnection? connection = null;
        try
        {
            while (await outgoing.Reader.WaitToReadAsync(token).ConfigureAwait(false))
            {
                batch.Clear();
                while (batch.Count < MaxNotificationsPerRoundTrip && outgoing.Reader.TryRead(out var item))
                {
                    batch.AddRange(BusWire.Encode(Origin, item.Topic, item.Message));
                }

                if (batch.Count == 0)
                {
                    continue;
                }

                var since = time.GetTimestamp();
                var backoff = FirstBackoff;
                while (true)
                {
                    try
                    {
                        connection ??= await writerSource.OpenConnectionAsync(token).ConfigureAwait(false);
                        await NotifyAsync(connection, batch, token).ConfigureAwait(false);
                        Interlocked.Add(ref sent, batch.Count);
                        break;
                    }
                    catch (Exception ex) when (!token.IsCancellationRequested)
                    {
                        if (connection is not null)
                        {
                            await connection.DisposeAsync().ConfigureAwait(false);
                            connection = null;
                        }

                        if (time.GetElapsedTime(since) > GiveUpSending)
                        {
                            logger.LogError(ex, "Could not notify the other nodes for {Seconds:F0} s: {Count} notices dropped; rooms there catch up from the store", GiveUpSending.TotalSeconds, batch.Count);
                            Interlocked.Add(ref dropped, batch.Count);
                            break;
                        }

                        logger.LogWarning("Notifying the other nodes failed ({Reason}); retrying in {Delay} ms", ex.Message, (int)backoff.TotalMilliseconds);
                        await Task.Delay(backoff, time, token).ConfigureAwait(false);
                        backoff = Next(backoff);
                    }
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
        finally
        {
            if (connection is not null)
            {
                await connection.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static async Task NotifyAsync(NpgsqlConnection connection, List<string> payloads, CancellationToken token)
    {
        // One round trip, one implicit transaction: the notifications are delivered together, in this order.
        await using var batch = new NpgsqlBatch(connection);
        foreach (var payload in payloads)
        {
            var command = new NpgsqlBatchCommand("SELECT pg_notify($1, $2)");
            command.Parameters.Add(new NpgsqlParameter { Value = Channel });
            command.Parameters.Add(new NpgsqlParameter { Value = payload });
            batch.BatchCommands.Add(command);
        }

        await batch.ExecuteNonQueryAsync(token).ConfigureAwait(false);
    }

    private async Task ListenLoopAsync()
    {
        var token = stopping.Token;
        var backoff = FirstBackoff;
        var lost = false;
        while (!token.IsCancellationRequested)
        {
            try
            {
                await using var connection = await listenerSource.OpenConnectionAsync(token).ConfigureAwait(false);
                connection.Notification += (_, e) =>
                {
                    if (e.Channel == Channel)
                    {
                        incoming.Writer.TryWrite(e.Payload);
                    }
                };
                await using (var listen = new NpgsqlCommand($"LISTEN {Channel}", connection))
                {
                    await listen.ExecuteNonQueryAsync(token).ConfigureAwait(false);
                }

                Volatile.Write(ref connected, 1);
                Volatile.Write(ref listenerStatus, ListenerStatus.Up);
                listening.TrySetResult();
                backoff = FirstBackoff;
                if (lost)
                {
                    logger.LogInformation("LISTEN connection back: rooms catch up from the store");
                    incoming.Writer.TryWrite(null);
                    lost = false;
                }

                while (!token.IsCancellationRequested)
                {
                    if (!await connection.WaitAsync(IdleCheck, token).ConfigureAwait(false))
                    {
                        // Quiet for a while: make sure the connection is really there (a silent network loss
                        // would otherwise leave this node deaf without knowing it).
                        await using var ping = new NpgsqlCommand("SELECT 1", connection);
                        await ping.ExecuteScalarAsync(token).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                Volatile.Write(ref connected, 0);
                var before = Volatile.Read(ref listenerStatus);
                Volatile.Write(ref listenerStatus, new ListenerStatus(false, OneLine(ex), before.Since ?? time.GetUtcNow()));
                if (!lost)
                {
                    logger.LogWarning("LISTEN connection lost ({Reason}); reconnecting", ex.Message);
                }

                lost = true;
                try
                {
                    await Task.Delay(backoff, time, token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }

                backoff = Next(backoff);
            }
        }

        Volatile.Write(ref connected, 0);
    }

    private async Task DispatchLoopAsync()
    {
        var token = stopping.Token;
        try
        {
            await foreach (var payload in incoming.Reader.ReadAllAsync(token).ConfigureAwait(false))
            {
                if (payload is null)
                {
                    local.PublishToAll(BusResumed.Instance);
                    continue;
                }

                BusNotice notice;
                try
                {
                    notice = BusWire.Decode(payload);
                }
                catch (FormatException ex)
                {
                    logger.LogWarning("Ignored a notification on channel {Channel}: {Reason}", Channel, ex.Message);
                    continue;
                }

                if (notice.Origin == Origin || !local.HasSubscribers(notice.Topic))
                {
                    continue;
                }

                Interlocked.Increment(ref received);
                if (await ResolveAsync(notice, token).ConfigureAwait(false) is { } message)
                {
                    local.Publish(notice.Topic, message);
                }
            }
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
        }
    }

    private async Task<ChatBusMessage?> ResolveAsync(BusNotice notice, CancellationToken token)
    {
        try
        {
            switch (notice)
            {
                case InlineNotice inline:
                    return inline.Message;
                case RoomBatchReference range:
                    var messages = await store.RoomHistoryAsync(range.Room, new HistoryQuery(null, range.First - 1, (int)Math.Min(range.Last - range.First + 1, 100_000)), token).ConfigureAwait(false);
                    var batch = messages.Where(m => m.Id <= range.Last).ToList();
                    return batch.Count > 0 ? new CommittedMessages(range.Room, batch) : null;
                case PrivateMessageReference pm:
                    var found = await store.PrivateHistoryAsync(pm.From, pm.To, new HistoryQuery(null, pm.Id - 1, 1), token).ConfigureAwait(false);
                    return found.Count == 1 && found[0].Id == pm.Id ? new ChatBusEvent(found[0]) : null;
                default:
                    return null;
            }
        }
        catch (Exception ex) when (!token.IsCancellationRequested)
        {
            // A room that misses this batch reads it by id with its next one; a private message stays in history.
            logger.LogWarning("Could not read back a notice by reference ({Reason})", ex.Message);
            return null;
        }
    }

    private static string OneLine(Exception ex)
    {
        var message = ex.Message;
        var end = message.IndexOfAny(['\r', '\n']);
        return end < 0 ? message : message[..end];
    }

    private static TimeSpan Next(TimeSpan backoff) => backoff * 2 > MaxBackoff ? MaxBackoff : backoff * 2;
}

/// <summary>The state of a node's <c>LISTEN</c> connection.</summary>
/// <param name="Listening">True while the connection is up and listening.</param>
/// <param name="Problem">Why it is down (the last failure); null while up.</param>
/// <param name="Since">When it went down, or when the bus started before its first success; null while up.</param>
public sealed record ListenerStatus(bool Listening, string? Problem, DateTimeOffset? Since)
{
    /// <summary>Up and listening.</summary>
    public static readonly ListenerStatus Up = new(true, null, null);
}
