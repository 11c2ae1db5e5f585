using TinyChat.Chat;
using TinyChat.Runtime;

namespace TinyChat.Protocols.Irc;

/// <summary>
/// The IRC protocol on one connection: registration (<see cref="IrcSession"/> in IrcRegistration.cs), then chat
/// commands (IrcCommands.cs) on the <see cref="ChatClient"/> it got. Lines are handled one at a time, in arrival order,
/// and every reply is queued before the next line is read, so replies leave in command order and a PONG leaves after
/// every reply to earlier commands.
/// </summary>
public sealed partial class IrcSession : IAsyncDisposable
{
    private readonly IrcFrontDoor door;
    private readonly IrcConnection connection;
    private readonly IrcReplies replies;
    private readonly IrcCapabilities capabilities = new();
    private readonly TokenBucket? lineBudget;
    private ChatClient? client;
    private IrcChannelView? view;
    private IrcIdentity? identity;
    private int refusedInARow;
    private bool closed;

    /// <summary>A session for a freshly accepted connection.</summary>
    public IrcSession(IrcFrontDoor door, IrcConnection connection)
    {
        this.door = door;
        this.connection = connection;
        replies = new IrcReplies(door.Options.ServerName, door.Users, door.Operators);
        lineBudget = door.Limits.LinesPerSecond > 0 ? new TokenBucket(door.Limits.LinesPerSecond, door.Limits.LineBurst, door.Time) : null;
    }

    /// <summary>Whether registration is complete.</summary>
    public bool IsRegistered => client is not null;

    /// <summary>Handles one line (null: a line over the length limit, already discarded).</summary>
    public async ValueTask OnLineAsync(string? text, CancellationToken cancellationToken)
    {
        await PaceAsync(cancellationToken).ConfigureAwait(false);
        if (text is null)
        {
            Send(replies.Numeric(IrcNumerics.InputTooLong, "Input line was too long"));
            return;
        }

        if (IrcLine.Parse(text) is not { } line)
        {
            return;
        }

        if (client is null)
        {
            await RegisterAsync(line, cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await CommandAsync(line, client, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Whether the session has ended (its connection is gone).</summary>
    public bool IsClosed => Volatile.Read(ref closed);

    /// <summary>Closes the connection of a client still registering because too many are (the oldest goes first).</summary>
    public void TooManyRegistering()
    {
        if (client is null)
        {
            connection.Close("Closing link: too many connections waiting to register", drain: true);
        }
    }

    /// <summary>Closes the connection of a client that did not register in time.</summary>
    public void RegistrationTimedOut()
    {
        if (client is null)
        {
            connection.Close("Closing link: registration timed out", drain: true);
        }
    }

    /// <summary>Ends the session: the user goes offline over this connection (a guest is forgotten). Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        Volatile.Write(ref closed, true);
        var ending = Interlocked.Exchange(ref client, null);
        await DisposeAdmissionAsync().ConfigureAwait(false);
        if (ending is not null)
        {
            await ending.DisposeAsync().ConfigureAwait(false);
        }

        if (identity is not null && view is not null)
        {
            door.Users.Remove(view.Nick, identity);
        }
    }

    // Fake lag, as ergo and others do: a client over its line rate is read more slowly instead of being cut off; TCP
    // pushes back on it. Waiting is bounded by the rate: one line's worth at most per call.
    private async ValueTask PaceAsync(CancellationToken cancellationToken)
    {
        if (lineBudget is null)
        {
            return;
        }

        var wait = TimeSpan.FromSeconds(1 / door.Limits.LinesPerSecond);
        for (var attempt = 0; attempt < 4 && !lineBudget.TryTake(); attempt++)
        {
            await Task.Delay(wait, door.Time, cancellationToken).ConfigureAwait(false);
        }
    }

    private void Send(string lines) => connection.Send(lines);

    private string Source => $"{replies.Nick}!{identity?.User ?? "unknown"}@{identity?.Host ?? connection.Address}";
}
