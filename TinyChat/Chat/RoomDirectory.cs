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
    private readonly Registry<string, RoomProcess> live = new(StringComparer.Ordinal);

    /// <summary>Whether a user is a server admin; every room started from now on asks it.</summary>
    public Func<string, bool> IsAdmin { get; set; } = static _ => false;

    /// <summary>The rooms running now (a snapshot). Never blocks.</summary>
    public IReadOnlyList<RoomProcess> Live => live.All;

    /// <summary>The room's process if it is running now. Never blocks.</summary>
    public RoomProcess? TryFindLive(string room) => live.TryLookup(room, out var process) ? process : null;

    /// <summary>The room's process, started on first use; null when the room does not exist.</summary>
    public async ValueTask<RoomProcess?> FindAsync(string room, CancellationToken cancellationToken)
    {
        if (live.TryLookup(room, out var process))
        {
            return process;
        }

        if (!await rooms.ExistsAsync(room, cancellationToken).ConfigureAwait(false))
        {
            return null;
        }

        process = live.GetOrRegister(
            room,
            name => new RoomProcess(name, mailboxCapacity, rooms, messages, findOnline, time, bus, presence, stopped => live.Unregister(stopped.Room, stopped)) { IsAdmin = IsAdmin },
            out var created);
        // Transient: a room's loop ends normally only when the room was deleted; after a fault it is restarted.
        if (created && !supervisor.TryStartChild(process, RestartKind.Transient))
        {
            live.Unregister(room, process);
            throw new ProcessStoppedException(process.Name);
        }

        return process;
    }

    /// <summary>Tells every room running here that other nodes' presence rows changed for these users. Never blocks.</summary>
    public void OthersPresenceChanged(IReadOnlyList<string> users)
    {
        var message = new OthersPresenceChanged(users);
        foreach (var process in live.All)
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
