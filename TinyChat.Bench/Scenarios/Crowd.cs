using System.Diagnostics;
using System.Net.WebSockets;
using TinyChat.Bench.Client;
using TinyChat.Bench.Targets;

namespace TinyChat.Bench.Scenarios;

/// <summary>One connection of a measurement: which user, which room, which sender id (-1: listens only).</summary>
public sealed record Seat(int User, string Room, int Sender, bool SlowReader = false);

/// <summary>
/// The connections of one measurement: opened, authenticated and joined to their rooms (TinyChat rooms are
/// created first), then receiving into their <see cref="Member"/>s until disposed.
/// </summary>
public sealed class Crowd : IAsyncDisposable
{
    private const int Attempts = 3;
    private readonly Target target;
    private readonly BenchContext context;
    private readonly BenchSocket?[] sockets;
    private readonly List<Task> receivers = [];
    private readonly CancellationTokenSource receiving = new();
    private readonly int firstIndex;
    private int failed;
    private long openTicks;
    private long joinTicks;
    private int joined;
    private string? firstFailure;

    private Crowd(BenchContext context, Target target, IReadOnlyList<Seat> seats, int firstIndex)
    {
        this.context = context;
        this.target = target;
        this.firstIndex = firstIndex;
        Seats = seats;
        sockets = new BenchSocket?[seats.Count];
    }

    /// <summary>The seats, in connection order.</summary>
    public IReadOnlyList<Seat> Seats { get; }

    /// <summary>Connections that could not be opened or joined after <see cref="Attempts"/> tries.</summary>
    public int Failed => failed;

    /// <summary>Why the first failed connection failed.</summary>
    public string? FirstFailure => firstFailure;

    /// <summary>Average milliseconds from connect to an open WebSocket (TCP, HTTP upgrade, authentication).</summary>
    public double OpenMilliseconds => joined == 0 ? double.NaN : Stopwatch.GetElapsedTime(0, openTicks).TotalMilliseconds / joined;

    /// <summary>Average milliseconds from an open WebSocket to the join reply (create included for the first seat of a room).</summary>
    public double JoinMilliseconds => joined == 0 ? double.NaN : Stopwatch.GetElapsedTime(0, joinTicks).TotalMilliseconds / joined;

    /// <summary>The socket of seat <paramref name="index"/>, null if it failed.</summary>
    public BenchSocket? Socket(int index) => sockets[index];

    /// <summary>
    /// Opens and joins every seat, <see cref="BenchOptions.ConnectParallelism"/> at a time, within <paramref name="cancellationToken"/>.
    /// <paramref name="firstIndex"/> numbers the connections (it picks their source addresses) after those of an earlier crowd.
    /// </summary>
    public static async Task<Crowd> GatherAsync(BenchContext context, Target target, IReadOnlyList<Seat> seats, CancellationToken cancellationToken, int firstIndex = 0)
    {
        await target.EnsureUsersAsync(seats.Max(s => s.User) + 1, cancellationToken).ConfigureAwait(false);
        var crowd = new Crowd(context, target, seats, firstIndex);
        try
        {
            await crowd.JoinAllAsync(cancellationToken).ConfigureAwait(false);
            return crowd;
        }
        catch
        {
            await crowd.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private async Task JoinAllAsync(CancellationToken cancellationToken)
    {
        // TinyChat rooms other than "default" must exist before anyone joins: the first seat of each room creates it.
        var creators = new HashSet<int>();
        if (target.IsTinyChat)
        {
            foreach (var group in Seats.Select((seat, index) => (seat, index)).GroupBy(x => x.seat.Room))
            {
                if (group.Key != "default")
                {
                    var first = group.First().index;
                    creators.Add(first);
                    await JoinAsync(first, create: true, cancellationToken).ConfigureAwait(false);
                }
            }
        }

        await Parallel.ForEachAsync(
            Enumerable.Range(0, Seats.Count).Where(i => !creators.Contains(i)),
            new ParallelOptions { MaxDegreeOfParallelism = context.Options.ConnectParallelism, CancellationToken = cancellationToken },
            async (index, ct) => await JoinAsync(index, create: false, ct).ConfigureAwait(false)).ConfigureAwait(false);
    }

    /// <summary>Starts the receive loops of every seat that has a member (a slow reader has none: it never reads).</summary>
    public void StartReceiving(IReadOnlyList<Member?> members, TimeSpan limit)
    {
        receiving.CancelAfter(limit);
        for (var i = 0; i < sockets.Length; i++)
        {
            if (sockets[i] is { } socket && members[i] is { } member)
            {
                receivers.Add(socket.ReceiveLoopAsync(member, receiving.Token));
            }
        }
    }

    private async Task JoinAsync(int index, bool create, CancellationToken cancellationToken)
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
                socket = await BenchSocket.ConnectAsync(target.ChatUri(seat.User), invoker, index, timeout.Token).ConfigureAwait(false);
                var opened = Stopwatch.GetTimestamp();
                if (create)
                {
                    await socket.RequestAsync($"{{\"command\":\"create\",\"room\":\"{seat.Room}\"}}", line => IsReply(line, "\"success\"", "room_exists"), timeout.Token).ConfigureAwait(false);
                }

                await socket.RequestAsync($"{{\"command\":\"join\",\"room\":\"{seat.Room}\"}}", line => IsReply(line, "\"message\":\"welcome", "already_joined"), timeout.Token).ConfigureAwait(false);
                Interlocked.Add(ref openTicks, opened - started);
                Interlocked.Add(ref joinTicks, Stopwatch.GetTimestamp() - opened);
                Interlocked.Increment(ref joined);
                sockets[index] = socket;
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
