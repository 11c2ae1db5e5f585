using TinyChat.Runtime;

namespace TinyChat.Chat;

/// <summary>Finds and starts user sessions: one supervised <see cref="UserSessionProcess"/> per online user.</summary>
public sealed class SessionDirectory(
    IRoomStore rooms,
    Supervisor supervisor,
    int mailboxCapacity,
    TimeProvider time,
    IChatBus bus,
    IPresence presence,
    Func<string, TokenBucket?>? messageBudgetOf = null)
{
    private const int AttachAttempts = 8;
    private readonly Registry<string, UserSessionProcess> live = new(StringComparer.Ordinal);

    /// <summary>Users online now.</summary>
    public int OnlineUsers => live.Count;

    /// <summary>Whether the user has a session now (online, or serving a request). Never blocks.</summary>
    public bool IsRunning(string user) => live.TryLookup(user, out _);

    /// <summary>Set once, before any session starts (rooms and sessions need each other).</summary>
    public RoomDirectory? Rooms { get; set; }

    /// <summary>The sessions running now (a snapshot). Never blocks.</summary>
    public IReadOnlyList<UserSessionProcess> Live => live.All;

    /// <summary>
    /// The endpoint of an online user, or null when the user is offline (no session, or a session that only serves
    /// API requests). Never blocks.
    /// </summary>
    public UserEndpoint? FindOnline(string user) => live.TryLookup(user, out var session) && session.Endpoint.Connections > 0 ? session.Endpoint : null;

    /// <summary>
    /// Attaches a connection to the user's session, starting one if there is none, and returns it with the rooms the
    /// user has joined (in name order; none for a request). A <paramref name="present"/> connection makes the user
    /// online; a request (false) only acts as the user.
    /// </summary>
    public async Task<(UserSessionProcess Session, IReadOnlyList<string> Joined)> AttachAsync(string user, IOutbox outbox, CancellationToken cancellationToken, bool present = true)
    {
        for (var attempt = 0; attempt < AttachAttempts; attempt++)
        {
            var session = live.GetOrRegister(
                user,
                name => new UserSessionProcess(name, mailboxCapacity, rooms, Rooms!, time, bus, presence, ended => live.Unregister(ended.User, ended))
                {
                    MessageBudget = messageBudgetOf?.Invoke(name),
                },
                out var created);
            if (created && !supervisor.TryStartChild(session, RestartKind.Transient))
            {
                live.Unregister(user, session);
                throw new ProcessStoppedException(session.Name);
            }

            var attach = new AttachConnection(outbox, present);
            try
            {
                if (await session.AskAsync(attach, attach.Reply, cancellationToken).ConfigureAwait(false) is { } joined)
                {
                    return (session, joined);
                }
            }
            catch (ProcessStoppedException)
            {
                // The session ended between lookup and attach; the next lookup finds or starts its successor.
            }

            live.Unregister(user, session);
        }

        throw new ProcessStoppedException("session:" + user);
    }
}
