using TinyChat.Chat;

namespace TinyChat.Storage.InMemory;

/// <summary>Accounts, rooms and history in memory: for tests and for <c>Storage:Provider = memory</c>. Thread-safe.</summary>
public sealed class InMemoryStore(TimeProvider? time = null) : IAccountStore, IRoomStore, IMessageStore, IReadingStore, IStoreHealth, IInviteStore
{
    private readonly TimeProvider time = time ?? TimeProvider.System;
    private readonly object gate = new();
    private readonly List<(byte[] Hash, InviteReport Report)> invites = [];
    private long lastInviteId;
    private readonly Dictionary<string, byte[]> tokenHashes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, string> usersByHash = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> members = new(StringComparer.Ordinal);
    private readonly Dictionary<string, List<RoomMessage>> roomHistory = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> lastIds = new(StringComparer.Ordinal);
    private readonly List<PrivateMessage> privateHistory = [];
    private readonly Dictionary<string, RoomAccess> access = new(StringComparer.Ordinal);
    private readonly HashSet<(string User, string Room, long Id)> mentions = [];
    private readonly Dictionary<(string User, string Room), long> roomReads = [];
    private readonly Dictionary<(string User, string Other), long> privateReads = [];

    // Insertion order over all rooms, as a database's row id: orders and pages search hits.
    private readonly Dictionary<(string Room, long Id), long> rowIds = [];

    /// <inheritdoc />
    public StoreHealth Current { get; } = StoreHealth.AlwaysAvailable(StorageOptions.Memory);

    /// <inheritdoc />
    public ValueTask<string?> AuthenticateAsync(string token, CancellationToken cancellationToken)
    {
        // Looked up by hash (O(1)); the hash of a high-entropy token leaks nothing useful through timing.
        var presented = TokenHash.Of(token);
        lock (gate)
        {
            return ValueTask.FromResult(
                usersByHash.TryGetValue(Convert.ToHexString(presented), out var user) && TokenHash.Matches(tokenHashes[user], presented) ? user : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<InvitedSignUp> TryCreateWithInviteAsync(string username, string token, string invite, CancellationToken cancellationToken)
    {
        var presented = TokenHash.Of(invite);
        lock (gate)
        {
            if (tokenHashes.ContainsKey(username))
            {
                return ValueTask.FromResult(InvitedSignUp.NameTaken);
            }

            var now = time.GetUtcNow();
            var index = invites.FindIndex(i => TokenHash.Matches(i.Hash, presented) && i.Report.UsesLeft > 0 && i.Report.ExpiresAt > now);
            if (index < 0)
            {
                return ValueTask.FromResult(InvitedSignUp.InvalidInvite);
            }

            invites[index] = invites[index] with { Report = invites[index].Report with { UsesLeft = invites[index].Report.UsesLeft - 1 } };
            tokenHashes[username] = TokenHash.Of(token);
            usersByHash[Convert.ToHexString(tokenHashes[username])] = username;
            return ValueTask.FromResult(InvitedSignUp.Created);
        }
    }

    /// <inheritdoc />
    public ValueTask<InviteReport> CreateInviteAsync(string code, int uses, DateTimeOffset expiresAt, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var report = new InviteReport(++lastInviteId, InviteCodes.Hint(code), uses, uses, expiresAt, time.GetUtcNow());
            invites.Add((TokenHash.Of(code), report));
            return ValueTask.FromResult(report);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<InviteReport>> ListInvitesAsync(CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult<IReadOnlyList<InviteReport>>([.. invites.Select(i => i.Report)]);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> RevokeInviteAsync(string code, CancellationToken cancellationToken)
    {
        var hash = TokenHash.Of(code);
        lock (gate)
        {
            return ValueTask.FromResult(invites.RemoveAll(i => TokenHash.Matches(i.Hash, hash)) > 0);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> RevokeInviteAsync(long id, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult(invites.RemoveAll(i => i.Report.Id == id) > 0);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> TryCreateAsync(string username, string token, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            if (!tokenHashes.TryAdd(username, TokenHash.Of(token)))
            {
                return ValueTask.FromResult(false);
            }

            usersByHash[Convert.ToHexString(tokenHashes[username])] = username;
            return ValueTask.FromResult(true);
        }
    }

    /// <inheritdoc />
    public ValueTask UpsertAsync(string username, string token, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            if (tokenHashes.TryGetValue(username, out var old))
            {
                usersByHash.Remove(Convert.ToHexString(old));
            }

            tokenHashes[username] = TokenHash.Of(token);
            usersByHash[Convert.ToHexString(tokenHashes[username])] = username;
        }

        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public ValueTask<bool> ExistsAsync(string username, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult(tokenHashes.ContainsKey(username));
        }
    }

    /// <inheritdoc />
    ValueTask<bool> IRoomStore.TryCreateAsync(string room, CancellationToken cancellationToken) =>
        ((IRoomStore)this).TryCreateAsync(room, null, false, cancellationToken);

    /// <inheritdoc />
    ValueTask<bool> IRoomStore.TryCreateAsync(string room, string? owner, bool isPrivate, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            if (!members.TryAdd(room, new HashSet<string>(StringComparer.Ordinal)))
            {
                return ValueTask.FromResult(false);
            }

            access[room] = RoomAccess.Open with { IsPrivate = isPrivate, Owner = owner };
            return ValueTask.FromResult(true);
        }
    }

    /// <inheritdoc />
    public ValueTask<RoomAccess?> AccessAsync(string room, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult(access.TryGetValue(room, out var found) ? found : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> PrivateRoomsAsync(CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult<IReadOnlyList<string>>([.. access.Where(a => a.Value.IsPrivate).Select(a => a.Key).Order(StringComparer.Ordinal)]);
        }
    }

    /// <inheritdoc />
    public ValueTask<int> CountOwnedAsync(string owner, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult(access.Values.Count(a => string.Equals(a.Owner, owner, StringComparison.Ordinal)));
        }
    }

    /// <inheritdoc />
    ValueTask<bool> IRoomStore.ExistsAsync(string room, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult(members.ContainsKey(room));
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> ListAsync(CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult<IReadOnlyList<string>>([.. members.Keys.Order(StringComparer.Ordinal)]);
        }
    }

    /// <inheritdoc />
    public ValueTask<bool> AddMemberAsync(string room, string user, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            if (!members.TryGetValue(room, out var set) || !set.Add(user))
            {
                return ValueTask.FromResult(false);
            }

            roomReads[(user, room)] = Math.Max(roomReads.GetValueOrDefault((user, room)), lastIds.GetValueOrDefault(room));
            return ValueTask.FromResult(true);
        }
    }

    /// <inheritdoc />
    public async ValueTask<bool[]> AddMembersAsync(string room, IReadOnlyList<string> users, CancellationToken cancellationToken)
    {
        var added = new bool[users.Count];
        for (var i = 0; i < users.Count; i++)
        {
            added[i] = await AddMemberAsync(room, users[i], cancellationToken).ConfigureAwait(false);
        }

        return added;
    }

    /// <inheritdoc />
    public ValueTask<bool> RemoveMemberAsync(string room, string user, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult(members.TryGetValue(room, out var set) && set.Remove(user));
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> MembersAsync(string room, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult<IReadOnlyList<string>>(members.TryGetValue(room, out var set) ? [.. set] : []);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<string>> RoomsOfAsync(string user, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult<IReadOnlyList<string>>([.. members.Where(m => m.Value.Contains(user)).Select(m => m.Key).Order(StringComparer.Ordinal)]);
        }
    }

    /// <inheritdoc />
    public ValueTask<long> LastRoomIdAsync(string room, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult(lastIds.GetValueOrDefault(room));
        }
    }

    /// <inheritdoc />
    public ValueTask<long> AppendRoomMessagesAsync(string room, IReadOnlyList<NewRoomMessage> messages, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            if (!members.ContainsKey(room))
            {
                return ValueTask.FromException<long>(new InvalidOperationException($"room {room} does not exist in the store"));
            }

            var last = lastIds.GetValueOrDefault(room);
            if (!roomHistory.TryGetValue(room, out var list))
            {
                roomHistory[room] = list = [];
            }

            foreach (var m in messages)
            {
                list.Add(m.ToEvent(room, ++last));
                rowIds[(room, last)] = rowIds.Count + 1;
                foreach (var user in m.Mentions)
                {
                    mentions.Add((user, room, last));
                }
                if (m.Kind is not null)
                {
                    Apply(room, list, m);
                }
            }

            var first = lastIds.GetValueOrDefault(room) + 1;
            lastIds[room] = last;
            return ValueTask.FromResult(first);
        }
    }

    // Under the gate, as part of the append: what the event says becomes what the store holds.
    private void Apply(string room, List<RoomMessage> history, NewRoomMessage e)
    {
        var current = access[room];
        var target = e.Target ?? "";
        switch (e.Kind)
        {
            case RoomEventKind.Edit or RoomEventKind.Delete:
                for (var i = 0; i < history.Count; i++)
                {
                    var m = history[i];
                    if (m.Kind is null && m.Id == e.RefersTo)
                    {
                        history[i] = e.Kind == RoomEventKind.Edit
                            ? new RoomMessage(room, m.From, e.Text, m.Id, m.Timestamp) { EditedAt = e.Timestamp }
                            : new RoomMessage(room, m.From, "", m.Id, m.Timestamp) { EditedAt = m.EditedAt, Deleted = true };
                    }
                    else if (e.Kind == RoomEventKind.Delete && m.Kind == RoomEventKind.Edit && m.RefersTo == e.RefersTo)
                    {
                        history[i] = new RoomMessage(room, m.From, "", m.Id, m.Timestamp) { Kind = m.Kind, RefersTo = m.RefersTo };
                    }
                }

                break;
            case RoomEventKind.Invite:
                access[room] = current with { Invited = With(current.Invited, target) };
                break;
            case RoomEventKind.Kick:
                members[room].Remove(target);
                access[room] = current with { Invited = Without(current.Invited, target) };
                break;
            case RoomEventKind.Ban:
                members[room].Remove(target);
                access[room] = current with { Invited = Without(current.Invited, target), Banned = With(current.Banned, target) };
                break;
            case RoomEventKind.Unban:
                access[room] = current with { Banned = Without(current.Banned, target) };
                break;
            case RoomEventKind.Mute:
                access[room] = current with { MutedUntil = new Dictionary<string, DateTimeOffset>(current.MutedUntil, StringComparer.Ordinal) { [target] = e.Until ?? e.Timestamp } };
                break;
            case RoomEventKind.Unmute:
                var muted = new Dictionary<string, DateTimeOffset>(current.MutedUntil, StringComparer.Ordinal);
                muted.Remove(target);
                access[room] = current with { MutedUntil = muted };
                break;
            case RoomEventKind.Role:
                access[room] = current with { Moderators = e.Text == "moderator" ? With(current.Moderators, target) : Without(current.Moderators, target) };
                break;
            case RoomEventKind.Topic:
                access[room] = current with { Topic = e.Text.Length == 0 ? null : e.Text };
                break;
        }
    }

    private static HashSet<string> With(IReadOnlySet<string> set, string user) => new(set, StringComparer.Ordinal) { user };

    private static HashSet<string> Without(IReadOnlySet<string> set, string user)
    {
        var copy = new HashSet<string>(set, StringComparer.Ordinal);
        copy.Remove(user);
        return copy;
    }

    /// <inheritdoc />
    public ValueTask<RoomMessage?> FindRoomMessageAsync(string room, long id, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult(roomHistory.TryGetValue(room, out var list) ? list.Find(m => m.Id == id) : null);
        }
    }

    /// <inheritdoc />
    public ValueTask<long> AppendPrivateMessageAsync(string from, string to, string text, DateTimeOffset timestamp, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var id = privateHistory.Count + 1L;
            privateHistory.Add(new PrivateMessage(from, to, text, id, timestamp));
            return ValueTask.FromResult(id);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<RoomMessage>> RoomHistoryAsync(string room, HistoryQuery query, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var all = roomHistory.TryGetValue(room, out var list) ? list : [];
            return ValueTask.FromResult(Slice(all, m => m.Id, query));
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<PrivateMessage>> PrivateHistoryAsync(string user, string other, HistoryQuery query, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var conversation = privateHistory.Where(m => (m.From == user && m.To == other) || (m.From == other && m.To == user)).ToList();
            return ValueTask.FromResult(Slice(conversation, m => m.Id, query));
        }
    }

    /// <inheritdoc />
    public ValueTask<long> LastPrivateIdAsync(CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult((long)privateHistory.Count);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<PrivateMessage>> PrivateMessagesOfAsync(string user, long after, int limit, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            IReadOnlyList<PrivateMessage> page = [.. privateHistory.Where(m => m.Id > after && (m.From == user || m.To == user)).Take(limit)];
            return ValueTask.FromResult(page);
        }
    }

    /// <inheritdoc />
    public ValueTask<long> MarkRoomReadAsync(string user, string room, long id, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            if (!members.ContainsKey(room))
            {
                return ValueTask.FromResult(0L);
            }

            var position = Math.Max(roomReads.GetValueOrDefault((user, room)), id);
            roomReads[(user, room)] = position;
            return ValueTask.FromResult(position);
        }
    }

    /// <inheritdoc />
    public ValueTask<long> MarkPrivateReadAsync(string user, string other, long id, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var position = Math.Max(privateReads.GetValueOrDefault((user, other)), id);
            privateReads[(user, other)] = position;
            return ValueTask.FromResult(position);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<RoomReadState>> RoomReadStatesAsync(string user, IReadOnlyList<string> rooms, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var states = new List<RoomReadState>();
            foreach (var room in rooms)
            {
                if (!members.ContainsKey(room))
                {
                    continue;
                }

                var position = roomReads.TryGetValue((user, room), out var read) ? read : lastIds.GetValueOrDefault(room);
                var after = (roomHistory.TryGetValue(room, out var list) ? list : []).Where(m => m.Id > position && m.Kind is null && !m.Deleted).ToList();
                var unread = after.Count(m => m.From != user);
                var mentioned = after.Count(m => mentions.Contains((user, room, m.Id)));
                states.Add(new RoomReadState(room, position, Math.Min(unread, IReadingStore.CountCap), Math.Min(mentioned, IReadingStore.CountCap)));
            }

            return ValueTask.FromResult<IReadOnlyList<RoomReadState>>(states);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<ConversationState>> ConversationsAsync(string user, int limit, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            var others = privateHistory
                .Where(m => m.From == user || m.To == user)
                .GroupBy(m => m.From == user ? m.To : m.From, StringComparer.Ordinal)
                .Select(g => g.Key)
                .ToList();
            IReadOnlyList<ConversationState> list = [.. others.Select(other => Conversation(user, other)).OrderByDescending(c => c.LastId).Take(limit)];
            return ValueTask.FromResult(list);
        }
    }

    /// <inheritdoc />
    public ValueTask<ConversationState> ConversationAsync(string user, string other, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult(Conversation(user, other));
        }
    }

    private ConversationState Conversation(string user, string other)
    {
        var messages = privateHistory.Where(m => (m.From == user && m.To == other) || (m.From == other && m.To == user)).ToList();
        var read = privateReads.GetValueOrDefault((user, other));
        var unread = user == other ? 0 : messages.Count(m => m.Id > read && m.From == other);
        return messages.Count == 0
            ? new ConversationState(other, 0, DateTimeOffset.UnixEpoch, read, 0)
            : new ConversationState(other, messages[^1].Id, messages[^1].Timestamp, read, Math.Min(unread, IReadingStore.CountCap));
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<RoomSearchHit>> SearchRoomsAsync(IReadOnlyList<string> rooms, SearchQuery query, long below, int limit, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            // No index here: a scan, fine for tests and demos. The key orders hits across rooms as a row id would.
            var hits = new List<RoomSearchHit>();
            foreach (var room in rooms)
            {
                if (roomHistory.TryGetValue(room, out var list))
                {
                    hits.AddRange(list.Where(m => m.Kind is null && !m.Deleted && query.IsFoundIn(m.Text)).Select(m => new RoomSearchHit(rowIds[(room, m.Id)], m)));
                }
            }

            return ValueTask.FromResult<IReadOnlyList<RoomSearchHit>>([.. hits.Where(h => h.Key < below).OrderByDescending(h => h.Key).Take(limit)]);
        }
    }

    /// <inheritdoc />
    public ValueTask<IReadOnlyList<PrivateSearchHit>> SearchPrivateAsync(string user, SearchQuery query, long below, int limit, CancellationToken cancellationToken)
    {
        lock (gate)
        {
            return ValueTask.FromResult<IReadOnlyList<PrivateSearchHit>>([..
                privateHistory.Where(m => m.Id < below && (m.From == user || m.To == user) && query.IsFoundIn(m.Text))
                    .OrderByDescending(m => m.Id).Take(limit).Select(m => new PrivateSearchHit(m))]);
        }
    }

    private static IReadOnlyList<T> Slice<T>(IReadOnlyList<T> ordered, Func<T, long> id, HistoryQuery query)
    {
        if (query.After is { } after)
        {
            return [.. ordered.Where(m => id(m) > after).Take(query.Limit)];
        }

        var before = query.Before ?? long.MaxValue;
        return [.. ordered.Where(m => id(m) < before).TakeLast(query.Limit)];
    }
}
