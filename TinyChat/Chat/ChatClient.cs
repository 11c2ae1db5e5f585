using TinyChat.Runtime;

namespace TinyChat.Chat;

/// <summary>Rooms the server has and rooms the user joined.</summary>
public sealed record RoomList(IReadOnlyList<string> All, IReadOnlyList<string> Joined);

/// <summary>One room as a room browser shows it: how many members it has and how many of them are online.</summary>
public sealed record RoomSummary(string Room, int Members, int Online);

/// <summary>
/// One connection's handle on the chat core: every command a protocol can express, answered with a value or a
/// <see cref="ChatError"/>. Pushed events arrive in the connection's <see cref="IOutbox"/>.
/// </summary>
public sealed partial class ChatClient : IAsyncDisposable
{
    private readonly ChatServer server;
    private readonly UserSessionProcess session;
    private readonly IOutbox outbox;
    private readonly bool guest;
    private int disposed;

    internal ChatClient(ChatServer server, UserSessionProcess session, IOutbox outbox, bool guest = false)
    {
        this.server = server;
        this.session = session;
        this.outbox = outbox;
        this.guest = guest;
    }

    /// <summary>Whether the user is a guest, forgotten when this client is disposed.</summary>
    public bool IsGuest => guest;

    /// <summary>The authenticated user.</summary>
    public string User => session.User;

    /// <summary>Joins a room (the default room when none is named); the value is the welcome line.</summary>
    public Task<Outcome<string>> JoinAsync(string? room, CancellationToken cancellationToken) => JoinAsync(room, null, cancellationToken);

    /// <summary>
    /// Joins a room (the default room when none is named) and, once the membership is durable, has the room's loop
    /// queue on this connection what <paramref name="welcome"/> queues (given the welcome line and the room's
    /// details: the front door's answer), then the connection's greeting (<see cref="PushGreetingAsync"/>): one trip
    /// through the room, and no presence change announced after the join overtakes either. <paramref name="welcome"/>
    /// runs on the room's loop and must only queue. Refused: neither is queued and the value is the error.
    /// </summary>
    public async Task<Outcome<string>> JoinAsync(string? room, Action<string, RoomDetails>? welcome, CancellationToken cancellationToken)
    {
        room ??= ChatNames.DefaultRoom;
        if (ChatNames.CheckRoomName(room) is { } why)
        {
            return ChatError.InvalidRoomName(why);
        }

        var line = $"welcome to the {room} chat room, {User}!";
        if (welcome is null)
        {
            var join = new UserJoins(room);
            var error = await AskSessionAsync(join, join.Reply, cancellationToken).ConfigureAwait(false);
            return error is null ? Outcome<string>.Ok(line) : error;
        }

        var welcomed = await JoinDirectlyAsync(room, new JoinGreeting(outbox, details => welcome(line, details)), cancellationToken).ConfigureAwait(false);
        return welcomed is null ? Outcome<string>.Ok(line) : welcomed;
    }

    // A live connection's join goes to the room from here instead of through the session's loop, one hand-off
    // between threads fewer before the welcome. The session is told first and waits for the outcome, so it still
    // records the room, and what it learns later (this connection closing, a kick) it handles after the join.
    private async Task<ChatError?> JoinDirectlyAsync(string room, JoinGreeting greeting, CancellationToken cancellationToken)
    {
        var join = new JoinRoom(User, session.Endpoint, greeting);
        if (await session.PostAsync(new UserJoins(room, greeting, join), cancellationToken).ConfigureAwait(false) != PostResult.Accepted)
        {
            return ChatError.Unavailable("your session");
        }

        try
        {
            if (await server.Rooms.PostAsync(room, join, cancellationToken).ConfigureAwait(false) is null)
            {
                join.Reply.Complete(ChatError.RoomNotFound(room));
            }
        }
        catch (StoreUnavailableException ex)
        {
            join.Reply.Fail(ex);
        }
        catch (Exception ex) when (ex is ProcessStoppedException or OperationCanceledException)
        {
            // Never posted: the session, which waits for this join, records nothing.
            join.Reply.Complete(ChatError.Unavailable($"room {room}"));
            if (ex is OperationCanceledException)
            {
                throw;
            }
        }

        try
        {
            return await join.Reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }
        catch (Exception ex) when (IsLoopFailure(ex, cancellationToken))
        {
            return ChatError.Unavailable($"room {room}");
        }
    }

    /// <summary>Creates a public room (without joining it).</summary>
    public Task<ChatError?> CreateAsync(string room, CancellationToken cancellationToken) => CreateAsync(room, false, cancellationToken);

    /// <summary>
    /// Creates a room owned by the user (without joining it). A private room is listed only to its members and
    /// joined only by invitation; its owner may join it at once.
    /// </summary>
    public async Task<ChatError?> CreateAsync(string room, bool isPrivate, CancellationToken cancellationToken)
    {
        if (ChatNames.CheckRoomName(room) is { } why)
        {
            return ChatError.InvalidRoomName(why);
        }

        var quota = server.Limits.MaxRoomsCreatedPerUser;
        try
        {
            // Counted in the store, not kept per user here: a table of every user who ever created a room only grows.
            if (await server.RoomStore.CountOwnedAsync(User, cancellationToken).ConfigureAwait(false) >= quota)
            {
                return ChatError.RoomQuota(quota);
            }

            if (!await server.Rooms.CreateAsync(room, User, isPrivate, cancellationToken).ConfigureAwait(false))
            {
                return ChatError.RoomExists(room);
            }
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }

        return null;
    }

    /// <summary>Leaves a room.</summary>
    public async Task<ChatError?> LeaveAsync(string room, CancellationToken cancellationToken)
    {
        if (ChatNames.CheckRoomName(room) is { } why)
        {
            return ChatError.InvalidRoomName(why);
        }

        var leave = new UserLeaves(room);
        return await AskSessionAsync(leave, leave.Reply, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Posts to a room the user has joined; the value is the message's sequence number, once durable and broadcast.</summary>
    public async Task<Outcome<long>> SendToRoomAsync(string room, string text, CancellationToken cancellationToken)
    {
        var queued = await QueueToRoomAsync(room, text, cancellationToken).ConfigureAwait(false);
        return queued.Error is { } error ? error : await queued.Value!.ConfigureAwait(false);
    }

    /// <summary>
    /// Queues a post in the room's mailbox and returns as soon as it is queued, so a client may pipeline posts
    /// (their order is the order of the calls). The inner task completes once the post is durable and broadcast,
    /// or with the reason it was refused.
    /// </summary>
    public async Task<Outcome<Task<Outcome<long>>>> QueueToRoomAsync(string room, string text, CancellationToken cancellationToken)
    {
        var post = new PostToRoom(User, text);
        return await QueueAsync(room, post, cancellationToken).ConfigureAwait(false) is { } refused
            ? refused
            : Outcome<Task<Outcome<long>>>.Ok(CompletionOf(post, room, cancellationToken));
    }

    /// <summary>
    /// Queues a post as <see cref="QueueToRoomAsync(string, string, CancellationToken)"/> does, and tells
    /// <paramref name="receipt"/> its outcome instead of completing a task: on the room's loop, right after the
    /// room broadcast the post's batch, so a front door can queue the acknowledgements of a whole batch behind it
    /// without a thread-pool hop per post. Null when queued; otherwise why not (the receipt is then never called).
    /// </summary>
    public Task<ChatError?> QueueToRoomAsync(string room, string text, IPostReceipt receipt, CancellationToken cancellationToken) =>
        QueueAsync(room, new PostToRoom(User, text) { Reply = new(new PostListener(this, room, receipt, cancellationToken)) }, cancellationToken);

    private async Task<ChatError?> QueueAsync(string room, PostToRoom post, CancellationToken cancellationToken)
    {
        if (CheckText(post.Text) is { } bad)
        {
            return bad;
        }

        if (ChatNames.CheckRoomName(room) is { } why)
        {
            return ChatError.InvalidRoomName(why);
        }

        try
        {
            RoomProcess? taken;
            try
            {
                taken = await server.Rooms.PostAsync(room, post, cancellationToken).ConfigureAwait(false);
            }
            catch (ProcessStoppedException)
            {
                return await GoneOrUnavailableAsync(room, cancellationToken).ConfigureAwait(false);
            }

            return taken is null ? ChatError.RoomNotFound(room) : null;
        }
        catch (Exception ex) when (IsLoopFailure(ex, cancellationToken))
        {
            return ChatError.Unavailable($"room {room}");
        }
    }

    // The room's loop decides; one that retires under the request hands it to its successor (never lost).
    private async Task<Outcome<T>> AskRoomAsync<T>(string room, RoomRequest<Outcome<T>> request, CancellationToken cancellationToken)
    {
        if (ChatNames.CheckRoomName(room) is { } why)
        {
            return ChatError.InvalidRoomName(why);
        }

        if (await server.Rooms.PostAsync(room, request, cancellationToken).ConfigureAwait(false) is null)
        {
            return ChatError.RoomNotFound(room);
        }

        return await request.Reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task<Outcome<RoomProcess>> FindRoomAsync(string room, CancellationToken cancellationToken)
    {
        if (ChatNames.CheckRoomName(room) is { } why)
        {
            return ChatError.InvalidRoomName(why);
        }

        var process = await server.Rooms.FindAsync(room, cancellationToken).ConfigureAwait(false);
        return process is null ? ChatError.RoomNotFound(room) : Outcome<RoomProcess>.Ok(process);
    }

    private async Task<Outcome<long>> CompletionOf(PostToRoom post, string room, CancellationToken cancellationToken)
    {
        try
        {
            return await post.Reply.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            // The room is fine, its batch was not stored: the poster hears why, not that the room went away.
            return ChatError.StoreUnavailable(ex.Cause);
        }
        catch (Exception ex) when (IsLoopFailure(ex, cancellationToken))
        {
            return await GoneOrUnavailableAsync(room, cancellationToken).ConfigureAwait(false);
        }
    }

    // The outcome of a post for a receipt, as CompletionOf gives it for a task.
    private sealed class PostListener(ChatClient client, string room, IPostReceipt receipt, CancellationToken cancellationToken) : IReplyListener<Outcome<long>>
    {
        public void OnReply(Outcome<long> value) => receipt.Settled(value);

        public void OnFailure(Exception reason)
        {
            if (reason is StoreUnavailableException unavailable)
            {
                receipt.Settled(ChatError.StoreUnavailable(unavailable.Cause));
            }
            else if (IsLoopFailure(reason, cancellationToken))
            {
                // Finding out why asks the room directory: not on the failing loop's thread.
                _ = SettleGoneAsync();
            }
        }

        private async Task SettleGoneAsync()
        {
            await Task.Yield();
            try
            {
                receipt.Settled(await client.GoneOrUnavailableAsync(room, cancellationToken).ConfigureAwait(false));
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                // The connection is going: nobody is left to tell.
            }
        }
    }

    // A room loop that stopped under a post is either a deleted room (its loop ends for good: say so) or a fault.
    private async Task<ChatError> GoneOrUnavailableAsync(string room, CancellationToken cancellationToken)
    {
        try
        {
            return (await FindRoomAsync(room, cancellationToken).ConfigureAwait(false)).Error ?? ChatError.Unavailable($"room {room}");
        }
        catch (Exception ex) when (IsLoopFailure(ex, cancellationToken) || ex is StoreUnavailableException)
        {
            return ChatError.Unavailable($"room {room}");
        }
    }

    /// <summary>Sends a private message; it is durable before the recipient and every connection of the sender see it.</summary>
    public async Task<Outcome<long>> SendPrivateAsync(string to, string text, CancellationToken cancellationToken)
    {
        if (CheckText(text) is { } bad)
        {
            return bad;
        }

        try
        {
            if (ChatNames.CheckUserName(to) is not null || !await server.UserExistsAsync(to, cancellationToken).ConfigureAwait(false))
            {
                return ChatError.UserNotFound(to);
            }
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }

        if (!server.TryBeginPrivateSend())
        {
            return ChatError.ShuttingDown();
        }

        try
        {
            return await StoreAndPublishPrivateAsync(to, text, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            server.EndPrivateSend();
        }
    }

    private async Task<Outcome<long>> StoreAndPublishPrivateAsync(string to, string text, CancellationToken cancellationToken)
    {
        // Stored and published in both users' turn: each user's topic carries their private messages in id order.
        using (await server.PrivateOrder.EnterAsync(User, to, cancellationToken).ConfigureAwait(false))
        {
            long id;
            var now = server.Time.GetUtcNow();
            try
            {
                id = await server.Messages.AppendPrivateMessageAsync(User, to, text, now, cancellationToken).ConfigureAwait(false);
            }
            catch (StoreUnavailableException ex)
            {
                return ChatError.StoreUnavailable(ex.Cause);
            }

            ChatMetrics.MessagesAccepted.Add(1, ChatMetrics.Kind("private"));
            // Through the users' topics: every connection of the recipient and of the sender, wherever it is.
            var published = new ChatBusEvent(new PrivateMessage(User, to, text, id, now));
            server.Bus.Publish(ChatTopic.User(to), published);
            if (to != User)
            {
                server.Bus.Publish(ChatTopic.User(User), published);
            }

            return Outcome<long>.Ok(id);
        }
    }

    /// <summary>
    /// Where this connection stands in the user's private messages: every one with an id up to the value was
    /// published before this call, every later one will have a higher id and reach the connection (attached
    /// already). Taken in the user's turn, so no message of theirs is between stored and published meanwhile.
    /// </summary>
    public async Task<long> PrivatePositionAsync(CancellationToken cancellationToken)
    {
        using (await server.PrivateOrder.EnterAsync(User, User, cancellationToken).ConfigureAwait(false))
        {
            return await server.Messages.LastPrivateIdAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The user's private messages in all conversations after an id, oldest first (an event stream's catch-up).</summary>
    public async Task<IReadOnlyList<PrivateMessage>> PrivateMessagesAfterAsync(long after, int limit, CancellationToken cancellationToken) =>
        await server.Messages.PrivateMessagesOfAsync(User, after, Math.Clamp(limit, 1, MaxHistoryLimit), cancellationToken).ConfigureAwait(false);

    /// <summary>Whether the user is a server admin.</summary>
    public bool IsAdmin => server.Limits.Admins.Contains(User);

    /// <summary>The rooms the user may see (public rooms, and private rooms the user is a member of) and the user's joined rooms.</summary>
    public async Task<Outcome<RoomList>> RoomsAsync(CancellationToken cancellationToken)
    {
        IReadOnlyList<string> all;
        IReadOnlyList<string> hidden;
        try
        {
            all = await server.Rooms.ListAsync(cancellationToken).ConfigureAwait(false);
            hidden = IsAdmin ? [] : await server.RoomStore.PrivateRoomsAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }

        var list = new JoinedRooms();
        try
        {
            var joined = await session.AskAsync(list, list.Reply, cancellationToken).ConfigureAwait(false);
            if (hidden.Count > 0)
            {
                // A private room is invisible to everyone but its members.
                var invisible = new HashSet<string>(hidden, StringComparer.Ordinal);
                invisible.ExceptWith(joined);
                all = [.. all.Where(room => !invisible.Contains(room))];
            }

            return Outcome<RoomList>.Ok(new RoomList(all, joined));
        }
        catch (Exception ex) when (IsLoopFailure(ex, cancellationToken))
        {
            return ChatError.Unavailable("your session");
        }
    }

    /// <summary>Every room with its member and online counts, sorted by name (for browsing; counts are a snapshot).</summary>
    public async Task<IReadOnlyList<RoomSummary>> RoomSummariesAsync(IReadOnlyList<string> rooms, CancellationToken cancellationToken)
    {
        var summaries = new List<RoomSummary>(rooms.Count);
        foreach (var room in rooms)
        {
            var members = await server.RoomStore.MembersAsync(room, cancellationToken).ConfigureAwait(false);
            summaries.Add(new RoomSummary(room, members.Count, members.Count(member => server.Presence.Find(member) is not null)));
        }

        return summaries;
    }

    /// <summary>Longest topic, in characters.</summary>
    public const int MaxTopicLength = 300;

    /// <summary>Longest mute.</summary>
    public static readonly TimeSpan MaxMute = TimeSpan.FromDays(366);

    /// <summary>Invites a user into a room (moderators; for a private room, the only way in).</summary>
    public Task<Outcome<long>> InviteAsync(string room, string user, CancellationToken cancellationToken) =>
        ActOnUserAsync(room, new RoomAction(RoomEventKind.Invite, user), cancellationToken);

    /// <summary>Ends a member's membership (moderators); a public room may be joined again.</summary>
    public Task<Outcome<long>> KickAsync(string room, string user, CancellationToken cancellationToken) =>
        ActOnUserAsync(room, new RoomAction(RoomEventKind.Kick, user), cancellationToken);

    /// <summary>Removes a user and keeps them out until unbanned (moderators).</summary>
    public Task<Outcome<long>> BanAsync(string room, string user, CancellationToken cancellationToken) =>
        ActOnUserAsync(room, new RoomAction(RoomEventKind.Ban, user), cancellationToken);

    /// <summary>Lets a banned user join again (moderators).</summary>
    public Task<Outcome<long>> UnbanAsync(string room, string user, CancellationToken cancellationToken) =>
        ActOnUserAsync(room, new RoomAction(RoomEventKind.Unban, user), cancellationToken);

    /// <summary>Keeps a member from posting for <paramref name="duration"/> (moderators).</summary>
    public Task<Outcome<long>> MuteAsync(string room, string user, TimeSpan duration, CancellationToken cancellationToken) =>
        duration <= TimeSpan.Zero || duration > MaxMute
            ? Task.FromResult<Outcome<long>>(new ChatError("bad_request", $"a mute lasts from 1 second to {MaxMute.TotalDays:0} days"))
            : ActOnUserAsync(room, new RoomAction(RoomEventKind.Mute, user, Duration: duration), cancellationToken);

    /// <summary>Ends a mute early (moderators).</summary>
    public Task<Outcome<long>> UnmuteAsync(string room, string user, CancellationToken cancellationToken) =>
        ActOnUserAsync(room, new RoomAction(RoomEventKind.Unmute, user), cancellationToken);

    /// <summary>Makes a member a moderator, or a moderator a member again (the owner).</summary>
    public Task<Outcome<long>> SetRoleAsync(string room, string user, RoomRole role, CancellationToken cancellationToken) =>
        role is RoomRole.Moderator or RoomRole.Member
            ? ActOnUserAsync(room, new RoomAction(RoomEventKind.Role, user, role == RoomRole.Moderator ? "moderator" : "member"), cancellationToken)
            : Task.FromResult<Outcome<long>>(new ChatError("bad_request", "a role is \"moderator\" or \"member\""));

    /// <summary>Sets the room's topic (moderators); empty clears it.</summary>
    public Task<Outcome<long>> SetTopicAsync(string room, string topic, CancellationToken cancellationToken) =>
        topic.Length > MaxTopicLength
            ? Task.FromResult<Outcome<long>>(new ChatError("topic_too_long", $"a topic has at most {MaxTopicLength} characters"))
            : ActAsync(room, new RoomAction(RoomEventKind.Topic, Text: topic), cancellationToken);

    /// <summary>Replaces the text of one of the user's own messages.</summary>
    public Task<Outcome<long>> EditAsync(string room, long id, string text, CancellationToken cancellationToken) =>
        text.Length == 0 ? Task.FromResult<Outcome<long>>(ChatError.EmptyMessage())
        : text.Length > server.Limits.MaxMessageLength ? Task.FromResult<Outcome<long>>(ChatError.MessageTooLong(server.Limits.MaxMessageLength))
        : ActAsync(room, new RoomAction(RoomEventKind.Edit, Text: text, RefersTo: id), cancellationToken);

    /// <summary>Deletes one of the user's own messages (moderators: anyone's); a tombstone keeps its place.</summary>
    public Task<Outcome<long>> DeleteAsync(string room, long id, CancellationToken cancellationToken) =>
        ActAsync(room, new RoomAction(RoomEventKind.Delete, RefersTo: id), cancellationToken);

    /// <summary>
    /// Deletes a room with its memberships and history (server admins only; never the default room). Recorded in
    /// the admin store like the admin command line's deletion, so every node applies it; this node at once.
    /// </summary>
    public async Task<ChatError?> DeleteRoomAsync(string room, CancellationToken cancellationToken)
    {
        if (ChatNames.CheckRoomName(room) is { } why)
        {
            return ChatError.InvalidRoomName(why);
        }

        if (!IsAdmin)
        {
            return ChatError.Forbidden("only a server admin may delete a room");
        }

        if (room == ChatNames.DefaultRoom)
        {
            return ChatError.InvalidTarget("the default room cannot be deleted");
        }

        if (server.AdminStore is not { } store)
        {
            return new ChatError("not_supported", "this server's storage cannot delete rooms");
        }

        try
        {
            if (!await store.DeleteRoomAsync(room, cancellationToken).ConfigureAwait(false))
            {
                return ChatError.RoomNotFound(room);
            }
        }
        catch (StoreUnavailableException)
        {
            return ChatError.StoreUnavailable();
        }

        // The change watch applies it too, later: forgetting a room twice is harmless.
        await server.ApplyAsync(new AdminChange(0, AdminChangeKind.RoomDeleted, room), cancellationToken).ConfigureAwait(false);
        return null;
    }

    /// <summary>The room's privacy, topic and roles (members and server admins).</summary>
    public async Task<Outcome<RoomDetails>> DescribeAsync(string room, CancellationToken cancellationToken)
    {
        try
        {
            return await AskRoomAsync(room, new DescribeRoom(User), cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }
        catch (Exception ex) when (IsLoopFailure(ex, cancellationToken))
        {
            return ChatError.Unavailable($"room {room}");
        }
    }

    private async Task<Outcome<long>> ActOnUserAsync(string room, RoomAction action, CancellationToken cancellationToken)
    {
        try
        {
            if (ChatNames.CheckUserName(action.Target) is not null || !await server.UserExistsAsync(action.Target!, cancellationToken).ConfigureAwait(false))
            {
                return ChatError.UserNotFound(action.Target ?? "");
            }
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }

        return await ActAsync(room, action, cancellationToken).ConfigureAwait(false);
    }

    // Every room action is decided by the room's process, where the room's state lives, whatever the front door.
    private async Task<Outcome<long>> ActAsync(string room, RoomAction action, CancellationToken cancellationToken)
    {
        try
        {
            return await AskRoomAsync(room, new ActInRoom(User, action), cancellationToken).ConfigureAwait(false);
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }
        catch (Exception ex) when (IsLoopFailure(ex, cancellationToken))
        {
            return ChatError.Unavailable($"room {room}");
        }
    }

    /// <summary>
    /// Who is online in a room the user has joined: everyone by name, or, in a room with more online than
    /// <see cref="ChatLimits.FullPresenceMaxMembers"/>, the first page (<see cref="PresenceState.Paged"/>).
    /// </summary>
    public Task<Outcome<PresenceState>> WhoAsync(string room, CancellationToken cancellationToken) =>
        AskWhoAsync(room, new WhoIsHere(User), cancellationToken);

    /// <summary>
    /// One page of who is online in a room the user has joined: at most <paramref name="limit"/> names (default and
    /// most: <see cref="RoomProcess.MaxWhoPage"/>, or fewer) in ordinal order after <paramref name="after"/>.
    /// </summary>
    public Task<Outcome<PresenceState>> WhoAsync(string room, string? after, int? limit, CancellationToken cancellationToken) =>
        AskWhoAsync(room, new WhoIsHere(User, After: after, Limit: limit ?? RoomProcess.MaxWhoPage), cancellationToken);

    /// <summary>
    /// What a client that joins a room (or connects) is shown of its presence: everyone by name, or only how many
    /// (<see cref="PresenceState.Counted"/>) in a room too big to list.
    /// </summary>
    public Task<Outcome<PresenceState>> GreetingAsync(string room, CancellationToken cancellationToken) =>
        AskWhoAsync(room, new WhoIsHere(User, Greeting: true), cancellationToken);

    /// <summary>
    /// Queues <see cref="GreetingAsync"/>'s answer on this connection from inside the room's loop, so that no
    /// presence change announced after it can overtake it; the value is what was queued.
    /// </summary>
    public Task<Outcome<PresenceState>> PushGreetingAsync(string room, CancellationToken cancellationToken) =>
        AskWhoAsync(room, new WhoIsHere(User, Greeting: true, PushTo: outbox), cancellationToken);

    private async Task<Outcome<PresenceState>> AskWhoAsync(string room, WhoIsHere who, CancellationToken cancellationToken)
    {
        try
        {
            return await AskRoomAsync(room, who, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsLoopFailure(ex, cancellationToken))
        {
            return ChatError.Unavailable($"room {room}");
        }
    }

    /// <summary>Tells a room's other members the user is typing. Ephemeral: dropped when the room is busy or the user types too often.</summary>
    public async Task<ChatError?> TypingAsync(string room, CancellationToken cancellationToken)
    {
        try
        {
            var found = await FindRoomAsync(room, cancellationToken).ConfigureAwait(false);
            found.Value?.TryPost(new TypingInRoom(User));
            return found.Error;
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }
    }

    /// <summary>Tells one user the user is typing to them. Ephemeral.</summary>
    public ChatError? TypingTo(string to)
    {
        if (ChatNames.CheckUserName(to) is not null)
        {
            return ChatError.UserNotFound(to);
        }

        session.TryPost(new TypingTo(to));
        return null;
    }

    /// <summary>Largest history page.</summary>
    public const int MaxHistoryLimit = 200;

    /// <summary>A page of a joined room's history, oldest first.</summary>
    public async Task<Outcome<IReadOnlyList<RoomMessage>>> RoomHistoryAsync(string room, HistoryQuery query, CancellationToken cancellationToken)
    {
        if (ChatNames.CheckRoomName(room) is { } why)
        {
            return ChatError.InvalidRoomName(why);
        }

        var rooms = await RoomsAsync(cancellationToken).ConfigureAwait(false);
        if (rooms.Error is { } error)
        {
            return error;
        }

        if (!rooms.Value!.Joined.Contains(room))
        {
            return rooms.Value.All.Contains(room) ? ChatError.NotAMember(room) : ChatError.RoomNotFound(room);
        }

        try
        {
            return Outcome<IReadOnlyList<RoomMessage>>.Ok(await server.Messages.RoomHistoryAsync(room, query, cancellationToken).ConfigureAwait(false));
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }
    }

    /// <summary>A page of the user's private conversation with <paramref name="other"/>, oldest first.</summary>
    public async Task<Outcome<IReadOnlyList<PrivateMessage>>> PrivateHistoryAsync(string other, HistoryQuery query, CancellationToken cancellationToken)
    {
        try
        {
            if (ChatNames.CheckUserName(other) is not null || !await server.UserExistsAsync(other, cancellationToken).ConfigureAwait(false))
            {
                return ChatError.UserNotFound(other);
            }

            return Outcome<IReadOnlyList<PrivateMessage>>.Ok(await server.Messages.PrivateHistoryAsync(User, other, query, cancellationToken).ConfigureAwait(false));
        }
        catch (StoreUnavailableException ex)
        {
            return ChatError.StoreUnavailable(ex.Cause);
        }
    }

    /// <summary>The node this client is connected to (<see cref="IPresence.Node"/>).</summary>
    public string Node => server.Presence.Node;

    /// <summary>Detaches the connection from the user's session and gives its connection slot back. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref disposed, 1) == 0)
        {
            try
            {
                if (guest)
                {
                    // Offline first (the others see a quit, not a leave), then out of every room, before the name is free.
                    var forget = new ForgetGuest(outbox);
                    await session.AskAsync(forget, forget.Reply, CancellationToken.None).ConfigureAwait(false);
                }
                else
                {
                    await session.PostAsync(new DetachConnection(outbox), CancellationToken.None).ConfigureAwait(false);
                }
            }
            catch (ProcessStoppedException)
            {
                // The session is gone already, and with it the connection.
            }
            finally
            {
                server.Slots.Release(User);
                if (guest)
                {
                    server.Guests.TryRemove(User, out _);
                }
            }
        }
    }

    // A (re)connected client first learns who is online in each room it has joined, whatever its protocol.
    // Only the session's joined set is needed (listing every room of the server, and the private ones to hide them,
    // cost two store reads per connection), and the session hands it over with the attach: no second trip.
    internal async Task GreetAsync(IReadOnlyList<string> joined, CancellationToken cancellationToken)
    {
        foreach (var room in joined)
        {
            await PushGreetingAsync(room, cancellationToken).ConfigureAwait(false);
        }
    }

    private ChatError? CheckText(string text) =>
        text.Length == 0 ? ChatError.EmptyMessage()
        : text.Length > server.Limits.MaxMessageLength ? ChatError.MessageTooLong(server.Limits.MaxMessageLength)
        : session.MessageBudget is { } budget && !budget.TryTake() ? ChatError.RateLimited()
        : null;

    private async Task<ChatError?> AskSessionAsync(SessionRequest<ChatError?> request, Reply<ChatError?> reply, CancellationToken cancellationToken)
    {
        try
        {
            return await session.AskAsync(request, reply, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (IsLoopFailure(ex, cancellationToken))
        {
            return ChatError.Unavailable("your session");
        }
    }

    // A loop that faulted or stopped under the request: the client gets an error and stays connected.
    private static bool IsLoopFailure(Exception ex, CancellationToken cancellationToken) =>
        ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested;
}
