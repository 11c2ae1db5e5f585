namespace TinyChat.Chat;

/// <summary>The <c>Chat</c> section: chat rules and seed accounts.</summary>
public sealed class ChatOptions
{
    /// <summary>Longest chat text, in characters.</summary>
    public int MaxMessageLength { get; set; } = 4000;

    /// <summary>Server admins by user name; the first seed user is one too.</summary>
    public List<string> Admins { get; set; } = [];

    /// <summary>Who may create an account through a front door: <c>open</c>, <c>invite</c> or <c>closed</c> (<see cref="RegistrationMode"/>).</summary>
    public string Registration { get; set; } = "open";

    /// <summary>Accounts upserted at start.</summary>
    public List<SeedUser> SeedUsers { get; set; } = [];
}

/// <summary>Who may register (<c>Chat:Registration</c>).</summary>
public enum RegistrationMode
{
    /// <summary>Anyone who can reach the server.</summary>
    Open,

    /// <summary>Whoever presents a valid invite code.</summary>
    Invite,

    /// <summary>Nobody: accounts are created by administrators (<c>tinychat users add</c>).</summary>
    Closed,
}

/// <summary>An account from the configuration file.</summary>
public sealed class SeedUser
{
    /// <summary>User name.</summary>
    public string Username { get; set; } = "";

    /// <summary>Access token (a secret: never logged).</summary>
    public string Token { get; set; } = "";
}
