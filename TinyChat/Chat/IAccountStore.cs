namespace TinyChat.Chat;

/// <summary>Accounts: user names and their access tokens. Implementations keep only token hashes.</summary>
public interface IAccountStore
{
    /// <summary>The user a token belongs to, or null. Comparison must not leak timing about the token.</summary>
    ValueTask<string?> AuthenticateAsync(string token, CancellationToken cancellationToken);

    /// <summary>Creates an account with the given token; false when the name is taken.</summary>
    ValueTask<bool> TryCreateAsync(string username, string token, CancellationToken cancellationToken);

    /// <summary>
    /// Creates an account with the given token if <paramref name="invite"/> is a stored code that has not expired and has
    /// a use left, and takes that use, atomically: of two registrations racing for a code's last use exactly one
    /// succeeds, and a taken name leaves the code unused.
    /// </summary>
    ValueTask<InvitedSignUp> TryCreateWithInviteAsync(string username, string token, string invite, CancellationToken cancellationToken);

    /// <summary>Creates the account or replaces its token (seed users from the configuration).</summary>
    ValueTask UpsertAsync(string username, string token, CancellationToken cancellationToken);

    /// <summary>Whether an account exists.</summary>
    ValueTask<bool> ExistsAsync(string username, CancellationToken cancellationToken);
}
