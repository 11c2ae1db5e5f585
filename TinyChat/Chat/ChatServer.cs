using System.Buffers.Text;
using System.Security.Cryptography;
using TinyChat.Runtime;

namespace TinyChat.Chat;

/// <summary>Limits of the chat core.</summary>
public sealed record ChatLimits(int MaxMessageLength, int RoomMailboxCapacity, int SessionMailboxCapacity)
{
    /// <summary>Batches a room may have at the store at once (1 or 2).</summary>
    public int RoomCommitsInFlight { get; init; } = 1;

    /// <summary>Chat messages per user per second (0 = unlimited).</summary>
    public double MessagesPerSecond { get; init; }

    /// <summary>Chat messages per user in a burst.</summary>
    public double MessageBurst { get; init; } = 1;

    /// <summary>Rooms one user may own: rooms they created that still exist (0 forbids creating rooms).</summary>
    public int MaxRoomsCreatedPerUser { get; init; } = int.MaxValue;

    /// <summary>Open connections per user, over every front door.</summary>
    public int MaxConnectionsPerUser { get; init; } = int.MaxValue;

    /// <summary>A room's loop with no member online here and no command for this long retires (zero: never).</summary>
    public TimeSpan IdleRoomAfter { get; init; }

    /// <summary>Who may register through a front door.</summary>
    public RegistrationMode Registration { get; init; } = RegistrationMode.Open;

    /// <summary>
    /// A room's presence changes after its first are gathered for this long and announced as one diff (zero: each
    /// change at once).
    /// </summary>
    public TimeSpan PresenceTick { get; init; }

    /// <summary>A room that announces counts gathers its changes for at least this long (<see cref="RoomProcess.CountTick"/>).</summary>
    public TimeSpan CountTick { get; init; }

    /// <summary>Above this many members online a room announces how many instead of who, and <c>who</c> pages the names.</summary>
    public int FullPresenceMaxMembers { get; init; } = int.MaxValue;

    /// <summary>Server admins: they act in every room as its owner would, and more (<c>Chat:Admins</c> and the first seed user).</summary>
    public IReadOnlySet<string> Admins { get; init; } = new HashSet<string>(StringComparer.Ordinal);
}

/// <summary>The chat core as the front doors (protocols, HTTP) see it: accounts, rooms and online users.</summary>
public sealed class ChatServer
{
    // Per user, not per session: a user whose connections are short (HTTP API calls) starts a session each time,
    // and a fresh bucket each time would be no limit. One bucket per user who posted; bounded by the accounts.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, TokenBucket> messageBudgets = new(StringComparer.Ordinal);

    // Private messages between stored and published: a shutdown waits for them before connections close.
    private readonly PrivateSends privateSends = new();

    /// <summary>Wires the core to its stores and supervisors.</summary>
    public ChatServer(
        IAccountStore accounts,
        IRoomStore rooms,
        IMessageStore messages,
        Supervisor roomSupervisor,
        Supervisor sessionSupervisor,
        ChatLimits limits,
        TimeProvider time,
        IChatBus? bus = null,
        IPresence? presence = null)
    {
        Bus = bus ?? new InProcessChatBus();
        Presence = presence ?? new InProcessPresence();
        RoomStore = rooms;
        Accounts = accounts;
        Messages = messages;
        Reading = messages as IReadingStore;
        Limits = limits;
        Time = time;
        Sessions = new SessionDirectory(
            rooms,
            sessionSupervisor,
            limits.SessionMailboxCapacity,
            time,
            Bus,
            Presence,
            limits.MessagesPerSecond > 0
                ? user => messageBudgets.GetOrAdd(user, _ => new TokenBucket(limits.MessagesPerSecond, limits.MessageBurst, time))
                : null);
        Rooms = new RoomDirectory(rooms, messages, roomSupervisor, limits.RoomMailboxCapacity, time, Sessions.FindOnline, Bus, Presence);
        Sessions.Rooms = Rooms;
        Rooms.IsAdmin = limits.Admins.Contains;
        Rooms.CommitsInFlight = limits.RoomCommitsInFlight;
        Rooms.IdleAfter = limits.IdleRoomAfter;
        Rooms.PresenceTick = limits.PresenceTick;
        Rooms.CountTick = limits.CountTick;
        Rooms.FullPresenceMaxMembers = limits.FullPresenceMaxMembers;
        Presence.OthersChanged += Rooms.OthersPresenceChanged;
        Slots = new ConnectionSlots(limits.MaxConnectionsPerUser);
    }

    /// <summary>Accounts.</summary>
    public IAccountStore Accounts { get; }

    /// <summary>Message history.</summary>
    public IMessageStore Messages { get; }

    /// <summary>Read positions, unread and mention counts, conversations and search; null when the message store keeps none.</summary>
    public IReadingStore? Reading { get; }

    /// <summary>Carries room batches, private messages and typing notices to their deliverers.</summary>
    public IChatBus Bus { get; }

    /// <summary>Who is online, per node.</summary>
    public IPresence Presence { get; }

    /// <summary>Rooms and memberships as stored.</summary>
    internal IRoomStore RoomStore { get; }

    /// <summary>Rooms.</summary>
    public RoomDirectory Rooms { get; }

    /// <summary>Online users.</summary>
    public SessionDirectory Sessions { get; }

    /// <summary>Limits.</summary>
    public ChatLimits Limits { get; }

    /// <summary>Open connections per user.</summary>
    public ConnectionSlots Slots { get; }

    /// <summary>Keeps each user's private messages in id order (see <see cref="PrivateOrder"/>).</summary>
    internal PrivateOrder PrivateOrder { get; } = new();

    /// <summary>Guests online now: users without an account, known only while connected.</summary>
    internal System.Collections.Concurrent.ConcurrentDictionary<string, byte> Guests { get; } = new(StringComparer.Ordinal);

    /// <summary>
    /// Where a server admin's room deletion is recorded, so every node applies it (null: a store nobody can change
    /// from outside, such as the in-memory one, where rooms cannot be deleted).
    /// </summary>
    public IAdminStore? AdminStore { get; init; }

    /// <summary>The clock for timestamps.</summary>
    public TimeProvider Time { get; }

    /// <summary>
    /// The first step of a shutdown, before any connection closes: every room delivers what it was sent and refuses
    /// later posts and actions (<see cref="RoomDirectory.StopAcceptingAsync"/>), and every private message being
    /// stored is published while later ones are refused. Completes once nothing accepted is still on its way.
    /// </summary>
    public async Task StopAcceptingAsync(CancellationToken cancellationToken)
    {
        Task sendsEnded;
        lock (privateSends)
        {
            privateSends.Closed = true;
            sendsEnded = privateSends.InFlight == 0 ? Task.CompletedTask : privateSends.Ended.Task;
        }

        await Task.WhenAll(Rooms.StopAcceptingAsync(cancellationToken), sendsEnded.WaitAsync(cancellationToken)).ConfigureAwait(false);
    }

    /// <summary>A private message may be sent (counted until <see cref="EndPrivateSend"/>); false once the node stopped accepting.</summary>
    internal bool TryBeginPrivateSend()
    {
        lock (privateSends)
        {
            if (privateSends.Closed)
            {
                return false;
            }

            privateSends.InFlight++;
            return true;
        }
    }

    /// <summary>A private message begun with <see cref="TryBeginPrivateSend"/> is published (or failed).</summary>
    internal void EndPrivateSend()
    {
        lock (privateSends)
        {
            if (--privateSends.InFlight == 0 && privateSends.Closed)
            {
                privateSends.Ended.TrySetResult();
            }
        }
    }

    /// <summary>
    /// Lets go of what idle users and rooms hold: asks idle rooms to retire (<see cref="RoomDirectory.RetireIdle"/>)
    /// and forgets the message budget of every user without a session whose budget has refilled (a fresh bucket is
    /// the same). Never blocks; returns how many rooms were asked to retire.
    /// </summary>
    public int ForgetIdle()
    {
        var asked = Rooms.RetireIdle();
        foreach (var (user, budget) in messageBudgets)
        {
            if (budget.IsFull && !Sessions.IsRunning(user))
            {
                messageBudgets.TryRemove(new KeyValuePair<string, TokenBucket>(user, budget));
            }
        }

        return asked;
    }

    /// <summary>Users whose message budget is kept now (tests watch it shrink).</summary>
    internal int BudgetsKept => messageBudgets.Count;

    /// <summary>Makes sure the default room exists.</summary>
    public async Task InitializeAsync(CancellationToken cancellationToken) =>
        await Rooms.CreateAsync(ChatNames.DefaultRoom, cancellationToken).ConfigureAwait(false);

    /// <summary>A fresh access token: 256 random bits, URL-safe.</summary>
    public static string NewAccessToken() => Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));

    /// <summary>
    /// Applies a change an administrator made in the store to what this server holds: a reset token or a deleted
    /// account ends the user's open connections (with the reason) and a deleted account stops counting as a member
    /// of rooms running here; a deleted room tells its online members everyone left, stops, and drops out of every
    /// online user's rooms. Waits only for mailbox space.
    /// </summary>
    public async Task ApplyAsync(AdminChange change, CancellationToken cancellationToken)
    {
        switch (change.Kind)
        {
            case AdminChangeKind.TokenReset:
                Sessions.FindOnline(change.Name)?.Disconnect("access token reset by an administrator");
                break;
            case AdminChangeKind.UserDeleted:
                Sessions.FindOnline(change.Name)?.Disconnect("account deleted by an administrator");
                foreach (var room in Rooms.Live)
                {
                    await room.PostAsync(new ForgetMember(change.Name), cancellationToken).ConfigureAwait(false);
                }

                break;
            case AdminChangeKind.RoomDeleted:
                // Sessions first: whoever hears the room's goodbye and then asks for its rooms no longer finds it.
                foreach (var session in Sessions.Live)
                {
                    await session.PostAsync(new ForgetRoom(change.Name), cancellationToken).ConfigureAwait(false);
                }

                if (Rooms.TryFindLive(change.Name) is { } process)
                {
                    await process.PostAsync(new RoomDeleted(), cancellationToken).ConfigureAwait(false);
                }

                break;
        }
    }

    /// <summary>
    /// Registers a user and returns a fresh access token (256 random bits, URL-safe), as <see cref="ChatLimits.Registration"/>
    /// allows: anyone (<c>open</c>; an invite code is ignored), whoever presents a valid <paramref name="invite"/> code
    /// (<c>invite</c>; the code loses one use), nobody (<c>closed</c>). Errors: <c>registration_closed</c>,
    /// <c>invalid_username</c>, <c>invite_required</c>, <c>username_taken</c>, <c>invalid_invite</c>.
    /// </summary>
    public async Task<Outcome<string>> RegisterAsync(string? username, string? invite, CancellationToken cancellationToken)
    {
        var mode = Limits.Registration;
        if (mode == RegistrationMode.Closed)
        {
            return new ChatError("registration_closed", "this server takes no registrations: an administrator creates accounts");
        }

        if (ChatNames.CheckUserName(username) is { } why)
        {
            return new ChatError("invalid_username", why);
        }

        if (mode == RegistrationMode.Invite && string.IsNullOrEmpty(invite))
        {
            return new ChatError("invite_required", "this server registers by invitation: an invite code is required");
        }

        if (Guests.ContainsKey(username!))
        {
            return new ChatError("username_taken", $"user name {username} is taken");
        }

        var token = NewAccessToken();
        if (mode == RegistrationMode.Open)
        {
            return await Accounts.TryCreateAsync(username!, token, cancellationToken).ConfigureAwait(false)
                ? Outcome<string>.Ok(token)
                : new ChatError("username_taken", $"user name {username} is taken");
        }

        return await Accounts.TryCreateWithInviteAsync(username!, token, invite!, cancellationToken).ConfigureAwait(false) switch
        {
            InvitedSignUp.Created => Outcome<string>.Ok(token),
            InvitedSignUp.NameTaken => new ChatError("username_taken", $"user name {username} is taken"),
            _ => new ChatError("invalid_invite", "the invite code is unknown, expired or used up"),
        };
    }

    /// <summary>
    /// The one way into the chat for every front door: authenticates the token and takes one of the user's
    /// connection slots atomically. Errors: <c>missing_token</c>, <c>invalid_token</c>, <c>too_many_connections</c>.
    /// </summary>
    public async Task<Outcome<Admission>> AdmitAsync(string? token, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(token))
        {
            return ChatError.MissingToken();
        }

        var user = await Accounts.AuthenticateAsync(token, cancellationToken).ConfigureAwait(false);
        if (user is null)
        {
            return ChatError.InvalidToken();
        }

        return Slots.TryTake(user) ? Outcome<Admission>.Ok(new Admission(this, user)) : ChatError.TooManyConnections(Slots.MaxPerUser);
    }

    /// <summary>
    /// Admits a guest: a user without an account, under a name that is neither an account nor online, for one
    /// connection. The guest can join, talk and be messaged like anyone; when its client is disposed it goes offline,
    /// leaves every room it joined and its name is free again, so it leaves no account or membership behind.
    /// Errors: <c>invalid_username</c>, <c>username_taken</c>.
    /// </summary>
    public async Task<Outcome<Admission>> AdmitGuestAsync(string? name, CancellationToken cancellationToken)
    {
        if (ChatNames.CheckUserName(name) is { } why)
        {
            return new ChatError("invalid_username", why);
        }

        if (await Accounts.ExistsAsync(name!, cancellationToken).ConfigureAwait(false) || !Guests.TryAdd(name!, 0))
        {
            return new ChatError("username_taken", $"user name {name} is taken");
        }

        if (!Slots.TryTake(name!))
        {
            Guests.TryRemove(name!, out _);
            return ChatError.TooManyConnections(Slots.MaxPerUser);
        }

        return Outcome<Admission>.Ok(new Admission(this, name!, guest: true));
    }

    /// <summary>Whether a guest of that name is online now.</summary>
    public bool IsGuestOnline(string name) => Guests.ContainsKey(name);

    /// <summary>Whether a user exists: an account or a guest online now.</summary>
    public async ValueTask<bool> UserExistsAsync(string user, CancellationToken cancellationToken) =>
        Guests.ContainsKey(user) || await Accounts.ExistsAsync(user, cancellationToken).ConfigureAwait(false);

    /// <summary>
    /// The newest id of each room <paramref name="user"/> has joined, as stored now (0 for a room with no message);
    /// empty while the store cannot be read. Read before a connection is attached, every later message of those rooms
    /// has a higher id (a room's ids are committed in order).
    /// </summary>
    public async Task<IReadOnlyDictionary<string, long>> RoomPositionsAsync(string user, CancellationToken cancellationToken)
    {
        var positions = new Dictionary<string, long>(StringComparer.Ordinal);
        try
        {
            foreach (var room in await RoomStore.RoomsOfAsync(user, cancellationToken).ConfigureAwait(false))
            {
                positions[room] = await Messages.LastRoomIdAsync(room, cancellationToken).ConfigureAwait(false);
            }
        }
        catch (StoreUnavailableException)
        {
            positions.Clear();
        }

        return positions;
    }

    /// <summary>Admits a user who is already authenticated (tests, internal tools) and connects <paramref name="outbox"/>.</summary>
    public async Task<ChatClient> ConnectAsync(string user, IOutbox outbox, CancellationToken cancellationToken)
    {
        if (!Slots.TryTake(user))
        {
            throw new InvalidOperationException($"{user} has {Slots.MaxPerUser} open connections already");
        }

        return await new Admission(this, user).ConnectAsync(outbox, cancellationToken).ConfigureAwait(false);
    }

    private sealed class PrivateSends
    {
        public int InFlight { get; set; }

        public bool Closed { get; set; }

        public TaskCompletionSource Ended { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
