namespace TinyChat.Chat;

/// <summary>Rooms and memberships: the state a restarted room or session reloads.</summary>
public interface IRoomStore
{
    /// <summary>Creates a room; false when it exists.</summary>
    ValueTask<bool> TryCreateAsync(string room, CancellationToken cancellationToken);

    /// <summary>Creates a room owned by <paramref name="owner"/>, public or private; false when it exists.</summary>
    ValueTask<bool> TryCreateAsync(string room, string? owner, bool isPrivate, CancellationToken cancellationToken);

    /// <summary>Who may do what in the room (changed by storing room events), or null when the room does not exist.</summary>
    ValueTask<RoomAccess?> AccessAsync(string room, CancellationToken cancellationToken);

    /// <summary>Names of the private rooms, sorted.</summary>
    ValueTask<IReadOnlyList<string>> PrivateRoomsAsync(CancellationToken cancellationToken);

    /// <summary>How many rooms <paramref name="owner"/> owns: the rooms they created that still exist.</summary>
    ValueTask<int> CountOwnedAsync(string owner, CancellationToken cancellationToken);

    /// <summary>Whether a room exists.</summary>
    ValueTask<bool> ExistsAsync(string room, CancellationToken cancellationToken);

    /// <summary>All room names, sorted.</summary>
    ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken);

    /// <summary>Records a membership; false when it already existed.</summary>
    ValueTask<bool> AddMemberAsync(string room, string user, CancellationToken cancellationToken);

    /// <summary>
    /// Records several memberships of one room at once (a crowd joining): for each user, in order, false when it already
    /// existed. All are durable when it returns; if it throws, each may or may not have been recorded.
    /// </summary>
    ValueTask<bool[]> AddMembersAsync(string room, IReadOnlyList<string> users, CancellationToken cancellationToken);

    /// <summary>Removes a membership; false when there was none.</summary>
    ValueTask<bool> RemoveMemberAsync(string room, string user, CancellationToken cancellationToken);

    /// <summary>Members of a room.</summary>
    ValueTask<IReadOnlyList<string>> MembersAsync(string room, CancellationToken cancellationToken);

    /// <summary>Rooms a user has joined, sorted.</summary>
    ValueTask<IReadOnlyList<string>> RoomsOfAsync(string user, CancellationToken cancellationToken);
}
