using System.Collections.Concurrent;

namespace TinyChat.Protocols.Irc;

/// <summary>How one online IRC user presents itself: the user name and real name from <c>USER</c>, host, away text.</summary>
public sealed record IrcIdentity(string User, string RealName, string Host)
{
    /// <summary>The away message, or null when present.</summary>
    public string? Away { get; init; }

    /// <summary>User mode +i: left out of WHO masks for users who share no channel.</summary>
    public bool Invisible { get; init; }

    /// <summary>Why the user is leaving (QUIT reason), shown in the QUIT line others see.</summary>
    public string? QuitReason { get; init; }

    /// <summary>The room the user is parting with a reason, and the reason, shown in the PART line.</summary>
    public (string Room, string Reason)? Parting { get; init; }
}

/// <summary>
/// The identities of the users connected over IRC, by nick, so every IRC client sees the same
/// <c>nick!user@host</c> and WHO/WHOIS answers; a user of another front door appears as <c>nick!nick@host</c>.
/// The last IRC connection of a nick to register wins; only that connection removes it.
/// </summary>
public sealed class IrcUsers(string serverName)
{
    private const int MaxDeparted = 1024;
    private readonly ConcurrentDictionary<string, IrcIdentity> online = new(StringComparer.Ordinal);

    // Identities of users who just left: the presence change announcing their QUIT may be encoded after they are gone.
    private readonly ConcurrentDictionary<string, IrcIdentity> departed = new(StringComparer.Ordinal);

    /// <summary>The identity of a nick (a default one for users of other front doors).</summary>
    public IrcIdentity Of(string nick) =>
        online.TryGetValue(nick, out var identity) || departed.TryGetValue(nick, out identity) ? identity : new IrcIdentity(nick, nick, serverName);

    /// <summary>Every nick online over IRC with its identity.</summary>
    public IEnumerable<KeyValuePair<string, IrcIdentity>> All => online;

    /// <summary>The source prefix of a nick's lines.</summary>
    public string Source(string nick)
    {
        var identity = Of(nick);
        return $"{nick}!{identity.User}@{identity.Host}";
    }

    /// <summary>Records the identity of a nick that registered.</summary>
    public void Set(string nick, IrcIdentity identity)
    {
        departed.TryRemove(nick, out _);
        online[nick] = identity;
    }

    /// <summary>Removes a nick's identity if it is still <paramref name="identity"/>.</summary>
    public void Remove(string nick, IrcIdentity identity)
    {
        if (online.TryRemove(new KeyValuePair<string, IrcIdentity>(nick, identity)))
        {
            if (departed.Count >= MaxDeparted)
            {
                departed.Clear();
            }

            departed[nick] = identity;
        }
    }

    /// <summary>Replaces a nick's identity (away, modes, reasons) if it is still <paramref name="identity"/>; returns the new one.</summary>
    public IrcIdentity Update(string nick, IrcIdentity identity, IrcIdentity updated)
    {
        online.TryUpdate(nick, updated, identity);
        return updated;
    }

    /// <summary>The online nick that matches <paramref name="nick"/> case-insensitively among IRC users, or <paramref name="nick"/>.</summary>
    public string Canonical(string nick)
    {
        if (online.ContainsKey(nick))
        {
            return nick;
        }

        foreach (var known in online.Keys)
        {
            if (string.Equals(known, nick, StringComparison.OrdinalIgnoreCase))
            {
                return known;
            }
        }

        return nick;
    }
}
