using TinyChat.Chat;
using TinyChat.Web;

namespace TinyChat.Protocols.Irc;

/// <summary>Line rate of one IRC connection: sustained, burst, and how many refused messages in a row count as a flood.</summary>
public sealed record IrcLineLimits(double LinesPerSecond, double LineBurst, int FloodDisconnectAfter);

/// <summary>What every IRC connection of one server shares: the chat core, the options, the identities and the encoders.</summary>
public sealed class IrcFrontDoor
{
    /// <summary>Shares the core and options between connections.</summary>
    public IrcFrontDoor(ChatServer chat, SignIns signIns, IrcOptions options, IrcLineLimits limits, TimeProvider time)
    {
        Chat = chat;
        SignIns = signIns;
        Options = options;
        Limits = limits;
        Time = time;
        StartedAt = time.GetUtcNow();
        Users = new IrcUsers(options.ServerName);
        Tagged = new IrcEventEncoder(Users, tags: true);
        Plain = new IrcEventEncoder(Users, tags: false);
    }

    /// <summary>The chat core.</summary>
    public ChatServer Chat { get; }

    /// <summary>Signs users in (PASS, SASL) under the per-address limit on failed attempts.</summary>
    public SignIns SignIns { get; }

    /// <summary>The <c>Irc</c> options.</summary>
    public IrcOptions Options { get; }

    /// <summary>Per-connection line limits.</summary>
    public IrcLineLimits Limits { get; }

    /// <summary>The clock.</summary>
    public TimeProvider Time { get; }

    /// <summary>When the server started (RPL_CREATED).</summary>
    public DateTimeOffset StartedAt { get; }

    /// <summary>Identities of the users online over IRC.</summary>
    public IrcUsers Users { get; }

    /// <summary>The encoder for clients that negotiated server-time or message-tags.</summary>
    public IrcEventEncoder Tagged { get; }

    /// <summary>Each room's owner and moderators, shown as its channel operators (<c>@</c>).</summary>
    public IrcChannelOperators Operators { get; } = new();

    /// <summary>The encoder for clients without tags.</summary>
    public IrcEventEncoder Plain { get; }
}
