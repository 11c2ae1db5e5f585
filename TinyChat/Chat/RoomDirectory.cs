using TinyChat.Runtime;

namespace TinyChat.Chat;

/// <summary>Finds, creates and starts rooms: one supervised <see cref="RoomProcess"/> per room in use.</summary>
public sealed class RoomDirectory(
    IRoomStore rooms,
    IMessageStore messages,
    Supervisor supervisor,
    int mailboxCapacity,
    TimeProvider time,
    Func<string, UserEndpoint?> findOnline,
    IChatBus bus,
    IPresence presence)
{
    // A post refused by a room that retired under it follows the room to its successor; a successor can only
    // retire after a whole idle period, so more hand-overs than this mean something else is wrong.
    private const int MaxHandOvers = 8;
    private readonly Registry<string, RoomProcess> live = new(StringComparer.Ordinal);
    private long retired;
    private long handedOver;
    private volatile bool stopping;

    /// <summary>Whether a user is a server admin; every room started from now on asks it.</summary>
    public Func<string, bool> IsAdmin { get; set; } = static _ => false;

    /// <summary>Batches each room may have at the store at once (<see cref="RoomProcess.CommitsInFlight"/>).</summary>
    public int CommitsInFlight { get; set; } = 1;

    /// <summary>How long a room with no member online here and no command waits before its loop retires (zero: never).</summary>
    public TimeSpan IdleAfter { get; set; }

    /// <summary>How long a room gathers presence changes after its first before announcing them (<see cref="ChatLimits.PresenceTick"/>).</summary>
    public TimeSpan PresenceTick { get; set; }

    /// <summary>A room that announces counts gathers its changes for at least this long (<see cref="ChatLimits.CountTick"/>).</summary>
    public TimeSpan CountTick { get; set; }

    /// <summary>Above this many online a room announces counts (<see cref="ChatLimits.FullPresenceMaxMembers"/>).</summary>
    public int FullPresenceMaxMembers { get; set; } = int.MaxValue;

    /// <summary>Room loops that retired since start.</summary>
    public long Retired => Interlocked.Read(ref retired);

    /// <summary>The rooms running now, enumerated without a copy. Never blocks.</summary>
    public IEnumerable<RoomProcess> Enumerate() => live.Enumerate();

    /// <summary>Commands refused by a loop that was ending and sent to its successor since start.</summary>
    public long HandedOver => Interlocked.Read(ref handedOver);

    /// <summary>Rooms running now. Never blocks.</summary>
    public int Running => live.Count;

    /// <summary>The rooms running now (a snapshot). Never blocks.</summary>
    public IReadOnlyList<RoomProcess> Live => live.All;

    /// <summary>The room's process if it is running now. Never blocks.</summary>
    public RoomProcess? TryFindLive(string room) => live.TryLookup(room, out var process) ? process : null;

    /// <summary>
    /// The room's process, started on first use; null when the room does not exist. A loop that is ending
    /// (retired or deleted) is waited for, so that at most one loop per room runs here: the result is its
    /// successor, or null when the room was deleted.
    /// </summary>
    public async ValueTask<RoomProcess?> FindAsync(string room, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxHandOvers; attempt++)
        {
            if (live.TryLookup(room, out var process))
            {
                if (!process.IsEnding)
                {
                    return process;
                }

                await process.Ended.WaitAsync(cancellationToken).ConfigureAwait(false);
                continue;
            }

            if (!await rooms.ExistsAsync(room, cancellationToken).ConfigureAwait(false))
            {
                return null;
            }

            process = Start(room);
            if (!process.IsEnding)
            {
                return process;
            }
        }

        throw new ProcessStoppedException("room:" + room);
    }

    /// <summary>
    /// Posts a command to the room's loop, waiting for mailbox space, and returns the loop that took it; null when
    /// the room does not exist. A loop that retires under the post does not lose it: the post goes to its
    /// successor. Throws <see cref="ProcessStoppedException"/> when the room's loop stopped for another reason.
    /// </summary>
    public async ValueTask<RoomProcess?> PostAsync(string room, RoomCommand command, CancellationToken cancellationToken)
    {
        for (var attempt = 0; attempt < MaxHandOvers; attempt++)
        {
            var process = await FindAsync(room, cancellationToken).ConfigureAwait(false);
            if (process is null)
            {
                return null;
            }

            if (await process.PostAsync(command, cancellationToken).ConfigureAwait(false) == PostResult.Accepted)
            {
                return process;
            }

            if (!process.IsEnding)
            {
                throw new ProcessStoppedException(process.Name);
            }

            Interlocked.Increment(ref handedOver);
            await process.Ended.WaitAsync(cancellationToken).ConfigureAwait(false);
        }

        throw new ProcessStoppedException("room:" + room);
    }

    /// <summary>
    /// Asks every room running here that has been idle for <see cref="IdleAfter"/> to retire (each decides in its
    /// own loop: not while a member is online here). Never blocks; returns how many were asked.
    /// </summary>
    public int RetireIdle()
    {
        if (IdleAfter <= TimeSpan.Zero)
        {
            return 0;
        }

        var asked = 0;
        var now = time.GetTimestamp();
        var command = new RetireIfIdle(IdleAfter);
        foreach (var process in live.Enumerate())
        {
            if (!process.IsEnding && time.GetElapsedTime(process.LastActive, now) >= IdleAfter && process.TryPost(command) == PostResult.Accepted)
            {
                asked++;
            }
        }

        return asked;
    }

    /// <summary>
    /// The node is shutting down: every room running here delivers what it was sent before this call and refuses
    /// later posts and actions (<see cref="StopAccepting"/>); a room that starts from now on refuses them from the
    /// start. Completes once every room has delivered what it took, so connections closed after it miss nothing
    /// that was acknowledged.
    /// </summary>
    public async Task StopAcceptingAsync(CancellationToken cancellationToken)
    {
        // Set before the rooms are listed: a room missing from the list registers after it and starts later, so it
        // reads the flag in its start.
        stopping = true;
        await Task.WhenAll(live.All.Select(process => AskToStopAcceptingAsync(process, cancellationToken))).ConfigureAwait(false);
    }

    private static async Task AskToStopAcceptingAsync(RoomProcess process, CancellationToken cancellationToken)
    {
        var stop = new StopAccepting();
        try
        {
            await process.AskAsync(stop, stop.Reply, cancellationToken).ConfigureAwait(false);
        }
        catch (ProcessStoppedException)
        {
            // An ending loop (retired, deleted) still handles what was queued before its end: wait for that. Its
            // successor, if any, starts after the flag was set.
            await process.Ended.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    private RoomProcess Start(string room)
    {
        var process = live.GetOrRegister(room, NewProcess, out var created);
        // Transient: a room's loop ends normally only when the room was deleted or retired; after a fault it is restarted.
        if (created && !supervisor.TryStartChild(process, RestartKind.Transient))
        {
            live.Unregister(room, process);
            throw new ProcessStoppedException(process.Name);
        }

        return process;
    }

    private RoomProcess NewProcess(string room) =>
        new(room, mailboxCapacity, rooms, messages, findOnline, time, bus, presence, Ended)
        {
            IsAdmin = IsAdmin,
            CommitsInFlight = CommitsInFlight,
            PresenceTick = PresenceTick,
            CountTick = CountTick,
            FullPresenceMaxMembers = FullPresenceMaxMembers,
            NodeStopping = IsStopping,
        };

    private bool IsStopping() => stopping;

    private void Ended(RoomProcess process)
    {
        if (process.IsRetiring && process.EndedWithListeners)
        {
            // Members came online or joined while it retired: they must keep hearing the room (in a cluster, other
            // nodes' posts reach them only through a loop here), from the last id the retired loop delivered. The
            // successor takes the name in one step, so nobody starts another loop in between.
            var successor = new RoomProcess(process.Room, mailboxCapacity, rooms, messages, findOnline, time, bus, presence, Ended)
            {
                IsAdmin = IsAdmin,
                CommitsInFlight = CommitsInFlight,
                PresenceTick = PresenceTick,
                CountTick = CountTick,
                FullPresenceMaxMembers = FullPresenceMaxMembers,
                NodeStopping = IsStopping,
                ResumeAfter = process.LastDelivered,
            };
            if (live.TryReplace(process.Room, process, successor) && !supervisor.TryStartChild(successor, RestartKind.Transient))
            {
                // The node is stopping.
                live.Unregister(process.Room, successor);
            }
        }
        else
        {
            live.Unregister(process.Room, process);
        }

        if (process.IsRetiring)
        {
            Interlocked.Increment(ref retired);
        }
    }

    /// <summary>Tells every room running here that other nodes' presence rows changed for these users. Never blocks.</summary>
    public void OthersPresenceChanged(IReadOnlyList<string> users)
    {
        var message = new OthersPresenceChanged(users);
        foreach (var process in live.Enumerate())
        {
            // A full mailbox loses this notice only: that room re-decides the users on their next change.
            process.TryPost(message);
        }
    }

    /// <summary>Creates a room; false when it exists.</summary>
    public ValueTask<bool> CreateAsync(string room, CancellationToken cancellationToken) => rooms.TryCreateAsync(room, cancellationToken);

    /// <summary>Creates a room owned by <paramref name="owner"/>, public or private; false when it exists.</summary>
    public ValueTask<bool> CreateAsync(string room, string owner, bool isPrivate, CancellationToken cancellationToken) =>
        rooms.TryCreateAsync(room, owner, isPrivate, cancellationToken);

    /// <summary>All room names.</summary>
    public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken) => rooms.ListAsync(cancellationToken);
}
