namespace TinyChat.Protocols.Irc;

/// <summary>The IRCv3 capabilities TinyChat implements and the ones one connection has enabled (CAP LS/REQ/LIST/END).</summary>
public sealed class IrcCapabilities
{
    /// <summary>Everything advertised in <c>CAP LS</c>, in order.</summary>
    public static readonly IReadOnlyList<string> Supported = ["batch", "draft/chathistory", "draft/message-redaction", "echo-message", "message-tags", "multi-prefix", "sasl", "server-time", "userhost-in-names"];

    private readonly HashSet<string> enabled = new(StringComparer.Ordinal);

    /// <summary>Whether a CAP negotiation holds registration open (CAP LS or REQ before registering, until CAP END).</summary>
    public bool Negotiating { get; set; }

    /// <summary>Whether the client sent <c>CAP LS 302</c> (or later): values are shown and long lists are split.</summary>
    public bool Version302 { get; set; }

    /// <summary>Enabled capabilities, sorted.</summary>
    public IEnumerable<string> Enabled => enabled.Order(StringComparer.Ordinal);

    /// <summary>Whether a capability is enabled.</summary>
    public bool Has(string capability) => enabled.Contains(capability);

    /// <summary>Whether events should carry tags (server-time or message-tags).</summary>
    public bool WantsTags => Has("server-time") || Has("message-tags");

    /// <summary>The LS value of a capability (sasl lists its mechanism for 302 clients).</summary>
    public string Advertised(string capability) => capability == "sasl" && Version302 ? "sasl=PLAIN" : capability;

    /// <summary>
    /// Applies a <c>CAP REQ</c> list all or nothing (<c>-cap</c> disables); false, changing nothing, when one is unknown.
    /// </summary>
    public bool TryRequest(string list)
    {
        var requested = list.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (requested.Length == 0 || requested.Any(r => !Supported.Contains(r.TrimStart('-'), StringComparer.Ordinal)))
        {
            return false;
        }

        foreach (var capability in requested)
        {
            if (capability.StartsWith('-'))
            {
                enabled.Remove(capability[1..]);
            }
            else
            {
                enabled.Add(capability);
            }
        }

        return true;
    }
}
