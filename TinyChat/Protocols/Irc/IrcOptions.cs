namespace TinyChat.Protocols.Irc;

/// <summary>The <c>Irc</c> section: the IRC front door on its own TCP port.</summary>
public sealed class IrcOptions
{
    /// <summary>Whether TinyChat listens for IRC clients.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Address to listen on (an IP, <c>localhost</c> or <c>*</c>); empty means the same as <c>Server:Host</c>.</summary>
    public string Host { get; set; } = "";

    /// <summary>TCP port; 0 picks a free port (tests).</summary>
    public int Port { get; set; } = 6667;

    /// <summary>The server's name in every reply's prefix, in 004 and in PONG.</summary>
    public string ServerName { get; set; } = "tinychat";

    /// <summary>Message of the day, one IRC line per line; empty sends 422 (no MOTD).</summary>
    public string Motd { get; set; } = "";

    /// <summary>Whether a client without PASS or SASL may register as a guest under its nick.</summary>
    public bool AllowGuests { get; set; }

    /// <summary>A connection that has not registered within this many seconds is closed.</summary>
    public double RegistrationTimeoutSeconds { get; set; } = 30;

    /// <summary>Connections that have not registered yet, at most; past it the oldest of them is closed.</summary>
    public int MaxUnregisteredConnections { get; set; } = 1000;

    /// <summary>Outbound lines queued per connection before it counts as a slow reader and is closed.</summary>
    public int OutboxCapacity { get; set; } = 1024;
}
