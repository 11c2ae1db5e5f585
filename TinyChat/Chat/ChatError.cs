namespace TinyChat.Chat;

/// <summary>Why the chat core refused a command: a stable machine code and a sentence for people.</summary>
public sealed record ChatError(string Code, string Message)
{
    /// <summary>The room does not exist.</summary>
    public static ChatError RoomNotFound(string room) => new("room_not_found", $"room {room} does not exist");

    /// <summary>Creating a room that exists.</summary>
    public static ChatError RoomExists(string room) => new("room_exists", $"room {room} already exists");

    /// <summary>Joining a room twice.</summary>
    public static ChatError AlreadyJoined(string room) => new("already_joined", $"you have already joined {room}");

    /// <summary>Acting in a room the user has not joined.</summary>
    public static ChatError NotAMember(string room) => new("not_a_member", $"you are not a member of {room}");

    /// <summary>No such user.</summary>
    public static ChatError UserNotFound(string user) => new("user_not_found", $"user {user} does not exist");

    /// <summary>A refused room name.</summary>
    public static ChatError InvalidRoomName(string why) => new("invalid_room_name", why);

    /// <summary>A text over the configured length.</summary>
    public static ChatError MessageTooLong(int max) => new("message_too_long", $"a message has at most {max} characters");

    /// <summary>An empty text.</summary>
    public static ChatError EmptyMessage() => new("empty_message", "a message must not be empty");

    /// <summary>The user sends messages faster than the limit.</summary>
    public static ChatError RateLimited() => new("rate_limited", "you are sending too fast; slow down");

    /// <summary>The user created as many rooms as allowed.</summary>
    public static ChatError RoomQuota(int max) => new("room_quota", $"you may create at most {max} rooms");

    /// <summary>The user's role in the room does not allow the action.</summary>
    public static ChatError Forbidden(string what) => new("forbidden", what);

    /// <summary>Joining a private room without an invitation.</summary>
    public static ChatError NotInvited(string room) => new("not_invited", $"{room} is private: a member must invite you first");

    /// <summary>Joining a room the user is banned from.</summary>
    public static ChatError Banned(string room) => new("banned", $"you are banned from {room}");

    /// <summary>Posting while muted.</summary>
    public static ChatError Muted(string room, DateTimeOffset until) =>
        new("muted", $"you are muted in {room} until {until.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}");

    /// <summary>Editing or deleting a message the room does not have (or no longer has).</summary>
    public static ChatError MessageNotFound(string room, long id) => new("message_not_found", $"{room} has no message {id}");

    /// <summary>An action aimed at a user it cannot apply to (not a member, already banned, the owner).</summary>
    public static ChatError InvalidTarget(string why) => new("invalid_target", why);

    /// <summary>No credential was presented.</summary>
    public static ChatError MissingToken() => new("missing_token", "an access token is required");

    /// <summary>The credential matches no account.</summary>
    public static ChatError InvalidToken() => new("invalid_token", "the access token is not valid");

    /// <summary>The user has as many open connections as allowed.</summary>
    public static ChatError TooManyConnections(int max) => new("too_many_connections", $"a user may have at most {max} open connections");

    /// <summary>The core could not serve the command now (a loop is restarting or overloaded); retrying is safe.</summary>
    public static ChatError Unavailable(string what) => new("unavailable", $"{what} is unavailable right now, try again");

    /// <summary>The node is shutting down: the command was not carried out; retrying against the restarted server is safe.</summary>
    public static ChatError ShuttingDown() => new("unavailable", "the server is shutting down, try again");

    /// <summary>
    /// The store cannot take the request (the database unreachable, the disk full): nothing was confirmed; retrying
    /// later is safe. <paramref name="cause"/> is the kind of trouble, when known.
    /// </summary>
    public static ChatError StoreUnavailable(string? cause = null) =>
        cause is null ? Unavailable("storage") : new("unavailable", $"storage is unavailable right now ({cause}), try again");
}

/// <summary>A value or the reason there is none.</summary>
public readonly record struct Outcome<T>(T? Value, ChatError? Error)
{
    /// <summary>True when there is a value.</summary>
    public bool IsOk => Error is null;

    /// <summary>Wraps an error.</summary>
    public static implicit operator Outcome<T>(ChatError error) => new(default, error);

    /// <summary>Wraps a value.</summary>
    public static Outcome<T> Ok(T value) => new(value, null);
}
