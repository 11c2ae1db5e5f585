namespace TinyChat.Chat;

/// <summary>
/// Keeps each user's private messages in id order on the way to their connections: a private message is stored
/// and published while holding its sender's and its recipient's turn, so a user's topic never carries a higher id
/// before a lower one. That makes "every private message of mine up to id N" an exact position (an event stream's
/// resume relies on it). Turns are striped (a fixed set of gates, never growing); two users sharing a stripe only
/// wait for each other. One process's order: users on several nodes are ordered per node.
/// </summary>
public sealed class PrivateOrder
{
    private const int Stripes = 64;
    private readonly SemaphoreSlim[] gates = [.. Enumerable.Range(0, Stripes).Select(_ => new SemaphoreSlim(1, 1))];

    /// <summary>Waits for the turn of both users (one when they are the same), in a fixed order so two senders never deadlock.</summary>
    public async Task<Turn> EnterAsync(string user, string other, CancellationToken cancellationToken)
    {
        var a = StripeOf(user);
        var b = StripeOf(other);
        var first = gates[Math.Min(a, b)];
        var second = a == b ? null : gates[Math.Max(a, b)];
        await first.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (second is not null)
            {
                await second.WaitAsync(cancellationToken).ConfigureAwait(false);
            }
        }
        catch
        {
            first.Release();
            throw;
        }

        return new Turn(first, second);
    }

    private static int StripeOf(string user) => (int)((uint)StringComparer.Ordinal.GetHashCode(user) % Stripes);

    /// <summary>Both users' turn, given back on dispose.</summary>
    public readonly struct Turn(SemaphoreSlim first, SemaphoreSlim? second) : IDisposable
    {
        /// <inheritdoc />
        public void Dispose()
        {
            second?.Release();
            first.Release();
        }
    }
}
