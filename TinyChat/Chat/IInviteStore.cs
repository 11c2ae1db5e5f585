namespace TinyChat.Chat;

/// <summary>
/// An invite code as an administrator lists it. The code itself is never stored (only its SHA-256), so a listing
/// shows its first characters (<see cref="Hint"/>) and its id.
/// </summary>
public sealed record InviteReport(long Id, string Hint, int Uses, int UsesLeft, DateTimeOffset ExpiresAt, DateTimeOffset CreatedAt);

/// <summary>What registering with an invite code came to.</summary>
public enum InvitedSignUp
{
    /// <summary>The account exists and the code has one use less.</summary>
    Created,

    /// <summary>The name is taken; the code was not used.</summary>
    NameTaken,

    /// <summary>No such code, or it expired or is used up; no account was created.</summary>
    InvalidInvite,
}

/// <summary>
/// Invite codes (<c>Chat:Registration</c> = <c>invite</c>): created by administrators with an expiry and a number of
/// uses, used up by registrations (<see cref="IAccountStore.TryCreateWithInviteAsync"/>), revoked by deletion.
/// </summary>
public interface IInviteStore
{
    /// <summary>Stores a new code (its hash) with <paramref name="uses"/> uses until <paramref name="expiresAt"/>.</summary>
    ValueTask<InviteReport> CreateInviteAsync(string code, int uses, DateTimeOffset expiresAt, CancellationToken cancellationToken);

    /// <summary>Every stored code, expired and used-up ones included, oldest first.</summary>
    ValueTask<IReadOnlyList<InviteReport>> ListInvitesAsync(CancellationToken cancellationToken);

    /// <summary>Deletes the code (given in full); false when there is none.</summary>
    ValueTask<bool> RevokeInviteAsync(string code, CancellationToken cancellationToken);

    /// <summary>Deletes the code with this id (as listed); false when there is none.</summary>
    ValueTask<bool> RevokeInviteAsync(long id, CancellationToken cancellationToken);
}
