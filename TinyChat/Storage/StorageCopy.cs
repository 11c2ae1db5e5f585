namespace TinyChat.Storage;

/// <summary>An account as stored: the token only as its hash.</summary>
public sealed record CopiedAccount(string Username, byte[] TokenHash, long CreatedAtMs);

/// <summary>A room as stored, with the highest sequence number it ever handed out (which survives pruning).</summary>
public sealed record CopiedRoom(string Name, long LastSeq, long CreatedAtMs)
{
    /// <summary>Whether the room is private.</summary>
    public bool IsPrivate { get; init; }

    /// <summary>The room's owner (its creator), if any.</summary>
    public string? Owner { get; init; }

    /// <summary>The room's topic, if any.</summary>
    public string? Topic { get; init; }
}

/// <summary>A user's standing in a room (moderator, invited, banned, muted until a time).</summary>
public sealed record CopiedStanding(string Room, string Username, string Standing, long? UntilMs);

/// <summary>A membership.</summary>
public sealed record CopiedMembership(string Room, string Username);

/// <summary>A room message with its room's sequence number.</summary>
public sealed record CopiedRoomMessage(string Room, long Seq, string Sender, string Body, long SentAtMs)
{
    /// <summary>Null for a chat message, else the room event.</summary>
    public string? Kind { get; init; }

    /// <summary>The user an event is about.</summary>
    public string? Target { get; init; }

    /// <summary>The message an edit or delete refers to.</summary>
    public long? RefersTo { get; init; }

    /// <summary>When a mute ends.</summary>
    public long? UntilMs { get; init; }

    /// <summary>When the message was last edited.</summary>
    public long? EditedAtMs { get; init; }

    /// <summary>Whether the message was deleted.</summary>
    public bool Deleted { get; init; }
}

/// <summary>A private message with its server-wide id.</summary>
public sealed record CopiedPrivateMessage(long Id, string Sender, string Recipient, string Body, long SentAtMs);

/// <summary>What a copy moved.</summary>
public sealed record StorageCopyCounts(long Users, long Rooms, long Memberships, long RoomMessages, long PrivateMessages);

/// <summary>A store read whole, in the order each kind of row was written (oldest first).</summary>
public interface IStorageSource
{
    /// <summary>Every account.</summary>
    IAsyncEnumerable<CopiedAccount> AccountsAsync(CancellationToken cancellationToken);

    /// <summary>Every room.</summary>
    IAsyncEnumerable<CopiedRoom> RoomsAsync(CancellationToken cancellationToken);

    /// <summary>Every membership.</summary>
    IAsyncEnumerable<CopiedMembership> MembershipsAsync(CancellationToken cancellationToken);

    /// <summary>Every user's standing in every room (moderators, invitations, bans, mutes).</summary>
    IAsyncEnumerable<CopiedStanding> StandingsAsync(CancellationToken cancellationToken);

    /// <summary>Every room message, in insertion order.</summary>
    IAsyncEnumerable<CopiedRoomMessage> RoomMessagesAsync(CancellationToken cancellationToken);

    /// <summary>Every private message, by id.</summary>
    IAsyncEnumerable<CopiedPrivateMessage> PrivateMessagesAsync(CancellationToken cancellationToken);

    /// <summary>The highest private message id ever handed out (pruned ones included), 0 when none: the target numbers on after it.</summary>
    Task<long> LastPrivateMessageIdAsync(CancellationToken cancellationToken);
}

/// <summary>A store that can take a whole copy, all or nothing.</summary>
public interface IStorageTarget
{
    /// <summary>Where the copy goes, safe to print.</summary>
    string Location { get; }

    /// <summary>Whether it holds no account, room or message (a copy never merges into existing data).</summary>
    Task<bool> IsEmptyAsync(CancellationToken cancellationToken);

    /// <summary>Writes everything <paramref name="source"/> holds, keeping ids, sequence numbers and hashes, in one transaction.</summary>
    Task<StorageCopyCounts> ImportAsync(IStorageSource source, CancellationToken cancellationToken);
}

/// <summary>Moves a team's data from one store to another (SQLite to PostgreSQL): <c>tinychat migrate-storage</c>.</summary>
public static class StorageCopy
{
    /// <summary>Copies everything; refuses (with a <see cref="StorageException"/>, writing nothing) a target that is not empty.</summary>
    public static async Task<StorageCopyCounts> CopyAsync(IStorageSource source, IStorageTarget target, CancellationToken cancellationToken)
    {
        if (!await target.IsEmptyAsync(cancellationToken).ConfigureAwait(false))
        {
            throw new StorageException($"the database {target.Location} is not empty: migrate-storage copies only into an empty database (no account, room or message); nothing was written");
        }

        return await target.ImportAsync(source, cancellationToken).ConfigureAwait(false);
    }
}
