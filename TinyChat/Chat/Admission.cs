namespace TinyChat.Chat;

/// <summary>
/// A user let in by <see cref="ChatServer.AdmitAsync"/>: authenticated and holding one of the user's connection
/// slots. A front door admits before it commits to a connection (so it can still refuse, e.g. with HTTP 401/429),
/// then connects its outbox, or disposes the admission to give the slot back.
/// </summary>
public sealed class Admission : IAsyncDisposable
{
    private readonly ChatServer server;
    private int state; // 0 admitted, 1 connected (the client owns the slot), 2 disposed

    internal Admission(ChatServer server, string user, bool guest = false)
    {
        this.server = server;
        User = user;
        IsGuest = guest;
    }

    /// <summary>Whether the user is a guest (see <see cref="ChatServer.AdmitGuestAsync"/>).</summary>
    public bool IsGuest { get; }

    /// <summary>The authenticated user.</summary>
    public string User { get; }

    /// <summary>
    /// Attaches the connection's outbox to the user's session and greets it: a <see cref="PresenceState"/> for each
    /// room the user has joined is queued in the outbox before the client is returned. Once this returns, the
    /// client owns the slot and gives it back when disposed. Call at most once.
    /// </summary>
    public Task<ChatClient> ConnectAsync(IOutbox outbox, CancellationToken cancellationToken) => ConnectAsync(outbox, present: true, cancellationToken);

    /// <summary>
    /// Connects a request (one HTTP API call): a client that acts as the user under every rule of the core, but
    /// does not make the user online, receives no events and is not greeted. Presence is for people (and bots)
    /// that listen; a bot that only posts never appears, so it cannot make the online list flicker. Call at most once.
    /// </summary>
    public Task<ChatClient> ConnectRequestAsync(CancellationToken cancellationToken) => ConnectAsync(new RequestOutbox(), present: false, cancellationToken);

    private async Task<ChatClient> ConnectAsync(IOutbox outbox, bool present, CancellationToken cancellationToken)
    {
        if (Interlocked.CompareExchange(ref state, 1, 0) != 0)
        {
            throw new InvalidOperationException("an admission connects once");
        }

        UserSessionProcess session;
        IReadOnlyList<string> joined;
        try
        {
            (session, joined) = await server.Sessions.AttachAsync(User, outbox, cancellationToken, present).ConfigureAwait(false);
        }
        catch
        {
            Release();
            throw;
        }

        var client = new ChatClient(server, session, outbox, IsGuest);
        if (present)
        {
            await client.GreetAsync(joined, cancellationToken).ConfigureAwait(false);
        }

        return client;
    }

    /// <summary>Gives the slot back unless a client now owns it. Idempotent.</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.CompareExchange(ref state, 2, 0) == 0)
        {
            Release();
        }

        return ValueTask.CompletedTask;
    }

    // A request's connection: its identity in the session; nothing is ever delivered to it.
    private sealed class RequestOutbox : IOutbox
    {
        public bool TryDeliver(ChatEvent chatEvent) => true;

        // The request ends within its own handling; the next one is authenticated afresh.
        public void Disconnect(string reason)
        {
        }
    }

    private void Release()
    {
        server.Slots.Release(User);
        if (IsGuest)
        {
            server.Guests.TryRemove(User, out _);
        }
    }
}
