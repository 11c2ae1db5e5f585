namespace TinyChat.Chat;

/// <summary>An account as an administrator lists it.</summary>
public sealed record UserReport(string User, DateTimeOffset CreatedAt, int Rooms);

/// <summary>A room as an administrator lists it: members, stored messages and when the last one was posted (null: none kept).</summary>
public sealed record RoomReport(string Room, int Members, long Messages, DateTimeOffset? LastActivity);

/// <summary>What an administrator changed that running servers must apply to the connections they hold.</summary>
public enum AdminChangeKind
{
    /// <summary>The user's access token was replaced: connections opened with the old one end.</summary>
    TokenReset,

    /// <summary>The account was deleted: its connections end and no room counts it as a member.</summary>
    UserDeleted,

    /// <summary>The room was deleted with its memberships and history.</summary>
    RoomDeleted,
}

/// <summary>One recorded administrator change; ids increase in the order the changes were committed.</summary>
public sealed record AdminChange(long Id, AdminChangeKind Kind, string Name);

/// <summary>
/// What the admin command line does to a store, possibly while servers run on it. Every change that open connections
/// must feel is recorded in the same transaction as an <see cref="AdminChange"/>; each server polls the record
/// (<see cref="ChangesAfterAsync"/>) and applies it, which works the same for one process or many nodes on one store.
/// </summary>
public interface IAdminStore : IInviteStore
{
    /// <summary>
    /// Brings the store to the current schema as a server's start would, creating it first when <paramref name="create"/>;
    /// throws an exception whose message names the store when it is missing (and not created) or unusable.
    /// </summary>
    Task PrepareAsync(bool create, CancellationToken cancellationToken);

    /// <summary>Creates an account with the token; false when the name is taken.</summary>
    ValueTask<bool> CreateUserAsync(string user, string token, CancellationToken cancellationToken);

    /// <summary>Every account, sorted by name.</summary>
    ValueTask<IReadOnlyList<UserReport>> ListUsersAsync(CancellationToken cancellationToken);

    /// <summary>Replaces the user's token and records <see cref="AdminChangeKind.TokenReset"/>; false when there is no such account.</summary>
    ValueTask<bool> ResetTokenAsync(string user, string token, CancellationToken cancellationToken);

    /// <summary>Deletes the account and its memberships (its messages stay in the history) and records <see cref="AdminChangeKind.UserDeleted"/>; false when there is no such account.</summary>
    ValueTask<bool> DeleteUserAsync(string user, CancellationToken cancellationToken);

    /// <summary>Every room with its counts, sorted by name.</summary>
    ValueTask<IReadOnlyList<RoomReport>> ListRoomsAsync(CancellationToken cancellationToken);

    /// <summary>Deletes the room, its memberships and its history and records <see cref="AdminChangeKind.RoomDeleted"/>; false when there is no such room.</summary>
    ValueTask<bool> DeleteRoomAsync(string room, CancellationToken cancellationToken);

    /// <summary>The id of the newest recorded change (0 when none): a server starting now applies only later ones.</summary>
    ValueTask<long> LastChangeAsync(CancellationToken cancellationToken);

    /// <summary>Changes recorded after <paramref name="id"/>, oldest first, at most <paramref name="limit"/>.</summary>
    ValueTask<IReadOnlyList<AdminChange>> ChangesAfterAsync(long id, int limit, CancellationToken cancellationToken);
}
