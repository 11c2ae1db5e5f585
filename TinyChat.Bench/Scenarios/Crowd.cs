using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.WebSockets;
using TinyChat.Bench.Client;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>
/// One connection of a measurement: which user, which room, which sender id (-1: listens only); the server it
/// connects to when not the crowd's (a node of a cluster).
/// </summary>
public sealed record Seat(int User, string Room, int Sender, bool SlowReader = false, Target? Node = null);

/// <summary>
/// The connections of one measurement: opened, authenticated and joined to their rooms (TinyChat rooms are
/// created first, over one connection), each receiving into its <see cref="Member"/> from the moment it has joined
/// (TinyChat pushes presence while the others join: a connection that did not read would be closed as a slow reader).
/// </summary>
public sealed class Crowd : IAsyncDisposable
{
    private const int Attempts = 3;
    private readonly Target target;
    private readonly BenchContext context;
    private readonly BenchSocket?[] sockets;
    private readonly Slot?[] slots;
    private readonly ConcurrentBag<Task> receivers = [];
    private readonly CancellationTokenSource receiving;
    private readonly int firstIndex;
    private int failed;
    private long openTicks;
    private long joinTicks;
    private int joined;
    private string? firstFailure;

    private Crowd(BenchContext context, Target target, IReadOnlyList<Seat> seats, IReadOnlyList<Member?> members, TimeSpan receiveLimit, int firstIndex)
    {
        this.context = context;
        this.target = target;
        slots = [.. members.Select(member => member is null ? null : new Slot(member))];
        this.firstIndex = firstIndex;
        Seats = seats;
        sockets = new BenchSocket?[seats.Count];
        receiving = new CancellationTokenSource(receiveLimit);
    }

    /// <summary>The seats, in connection order.</summary>
    public IReadOnlyList<Seat> Seats { get; }

    /// <summary>Connections that could not be opened or joined after <see cref="Attempts"/> tries.</summary>
    public int Failed => failed;

    /// <summary>Why the first failed connection failed.</summary>
    public string? FirstFailure => firstFailure;

    /// <summary>Average milliseconds from connect to an open WebSocket (TCP, HTTP upgrade, authentication).</summary>
    public double OpenMilliseconds => joined == 0 ? double.NaN : Stopwatch.GetElapsedTime(0, openTicks).TotalMilliseconds / joined;

    /// <summary>Average milliseconds from an open WebSocket to the join reply.</summary>
    public double JoinMilliseconds => joined == 0 ? double.NaN : Stopwatch.GetElapsedTime(0, joinTicks).TotalMilliseconds / joined;

    /// <summary>The socket of seat <paramref name="index"/>, null if it failed.</summary>
    public BenchSocket? Socket(int index) => sockets[index];

    /// <summary>The members of the seats that joined (null for failed seats and for the slow reader).</summary>
    public Member?[] JoinedMembers() => [.. slots.Select((slot, i) => sockets[i] is null ? null : slot?.Member)];

    /// <summary>
    /// Points every receive loop at a new member (one per seat, same order; seats without a loop ignore theirs),
    /// so one crowd serves several runs, each with fresh counters. Call it while no traffic flows.
    /// </summary>
    public void Rebind(IReadOnlyList<Member?> members)
    {
        for (var i = 0; i < slots.Length; i++)
        {
            if (slots[i] is { } slot && members[i] is { } member)
            {
                slot.Member = member;
            }
        }
    }

    /// <summary>
    /// Opens and joins every seat, <see cref="BenchOptions.ConnectParallelism"/> at a time, within <paramref name="cancellationToken"/>.
    /// A seat's receive loop (into <paramref name="members"/>[i]; none when null) starts once it has joined and runs at most
    /// <paramref name="receiveLimit"/>. <paramref name="firstIndex"/> numbers the connections (it picks their source addresses)
    /// after those of an earlier crowd. TinyChat rooms are created first unless <paramref name="createRooms"/> is false.
    /// </summary>
    public static async Task<Crowd> GatherAsync(
        BenchContext context,
        Target target,
        IReadOnlyList<Seat> seats,
        IReadOnlyList<Member?> members,
        TimeSpan receiveLimit,
        CancellationToken cancellationToken,
        int firstIndex = 0,
        bool createRooms = true)
    {
        await target.EnsureUsersAsync(seats.Max(s => s.User) + 1, cancellationToken).ConfigureAwait(false);
        if (createRooms)
        {
            await CreateRoomsAsync(context, target, seats, cancellationToken).ConfigureAwait(false);
        }

        var crowd = new Crowd(context, target, seats, members, receiveLimit, firstIndex);
        try
        {
            await Parallel.ForEachAsync(
                Enumerable.Range(0, seats.Count),
                new ParallelOptions { MaxDegreeOfParallelism = context.Options.ConnectParallelism, CancellationToken = cancellationToken },
                async (index, ct) => await crowd.JoinAsync(index, ct).ConfigureAwait(false)).ConfigureAwait(false);
            return crowd;
        }
        catch
        {
            await crowd.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// TinyChat only: creates the seats' rooms (all but "default") over one connection of the first seat's user;
    /// a room that exists already (an earlier run) is fine. The peers create rooms on first join.
    /// </summary>
    public static async Task CreateRoomsAsync(BenchContext context, Target target, IReadOnlyList<Seat> seats, CancellationToken cancellationToken)
    {
        var rooms = seats.Select(s => s.Room).Where(r => r != "default").Distinct().ToList();
        if (!target.IsTinyChat || rooms.Count == 0)
        {
            return;
        }

        await target.EnsureUsersAsync(seats[0].User + 1, cancellationToken).ConfigureAwait(false);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(60));
        await using var socket = await BenchSocket.ConnectAsync(target.NativeChatUri(seats[0].User), context.Dialer.For(0), 0, timeout.Token).ConfigureAwait(false);
        foreach (var room in rooms)
        {
            await socket.RequestAsync($"{{\"command\":\"create\",\"room\":\"{room}\"}}", line => IsReply(line, "\"success\"", "room_exists"), timeout.Token).ConfigureAwait(false);
        }
    }

    private async Task JoinAsync(int index, CancellationToken cancellationToken)
    {
        var seat = Seats[index];
        Exception? last = null;
        for (var attempt = 1; attempt <= Attempts && !cancellationToken.IsCancellationRequested; attempt++)
        {
            BenchSocket? socket = null;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(30));
                var invoker = context.Dialer.For(firstIndex + index, seat.SlowReader);
                var started = Stopwatch.GetTimestamp();
                socket = await BenchSocket.ConnectAsync((seat.Node ?? target).ChatUri(seat.User), invoker, index, timeout.Token).ConfigureAwait(false);
                var opened = Stopwatch.GetTimestamp();
                if (target.IsPhoenix)
                {
                    // phoenix.js's join: join_ref and ref "1", the topic of the room; the reply carries them back.
                    await socket.RequestAsync(Probe.PhoenixJoin(seat.Room), line => IsPhoenixJoinReply(line, seat.Room), timeout.Token).ConfigureAwait(false);
                }
                else
                {
                    await socket.RequestAsync($"{{\"command\":\"join\",\"room\":\"{seat.Room}\"}}", line => IsReply(line, "\"message\":\"welcome", "already_joined"), timeout.Token).ConfigureAwait(false);
                }

                Interlocked.Add(ref openTicks, opened - started);
                Interlocked.Add(ref joinTicks, Stopwatch.GetTimestamp() - opened);
                Interlocked.Increment(ref joined);
                sockets[index] = socket;
                if (slots[index] is { } slot)
                {
                    receivers.Add(socket.ReceiveLoopAsync(slot, receiving.Token));
                }

                return;
            }
            catch (Exception ex) when (ex is WebSocketException or IOException or OperationCanceledException or HttpRequestException or InvalidOperationException)
            {
                last = ex;
                if (socket is not null)
                {
                    await socket.DisposeAsync().ConfigureAwait(false);
                }

                if (!cancellationToken.IsCancellationRequested)
                {
                    await Task.Delay(200 * attempt, CancellationToken.None).ConfigureAwait(false);
                }
            }
        }

        Interlocked.Increment(ref failed);
        Interlocked.CompareExchange(ref firstFailure, $"seat {index} (user {seat.User}, room {seat.Room}): {last?.GetType().Name}: {last?.Message}", null);
    }

    private static bool IsReply(string line, string ok, string alsoOk)
    {
        if (line.Contains(ok, StringComparison.Ordinal) || line.Contains(alsoOk, StringComparison.Ordinal))
        {
            return true;
        }

        return line.StartsWith("{\"error\"", StringComparison.Ordinal) ? throw new InvalidOperationException($"server said {line}") : false;
    }

    private static bool IsPhoenixJoinReply(string line, string room)
    {
        if (!line.StartsWith($"[\"1\",\"1\",\"room:{room}\",\"phx_reply\"", StringComparison.Ordinal))
        {
            return false;
        }

        return line.Contains("\"status\":\"ok\"", StringComparison.Ordinal) ? true : throw new InvalidOperationException($"server said {line}");
    }

    /// <summary>A receive loop's handler: forwards to the member of the current run.</summary>
    private sealed class Slot(Member member) : ILineHandler
    {
        private Member member = member;

        public Member Member
        {
            get => Volatile.Read(ref member);
            set => Volatile.Write(ref member, value);
        }

        public void OnLine(ReadOnlySpan<byte> line, long receivedAt) => Member.OnLine(line, receivedAt);
    }

    /// <summary>Closes every connection and waits for the receive loops to end.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var socket in sockets)
        {
            if (socket is not null)
            {
                await socket.DisposeAsync().ConfigureAwait(false);
            }
        }

        await receiving.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(receivers).ConfigureAwait(false);
        receiving.Dispose();
    }
}
