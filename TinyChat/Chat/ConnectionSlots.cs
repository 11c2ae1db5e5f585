namespace TinyChat.Chat;

/// <summary>
/// Counts each user's open connections against the per-user limit. Taking a slot is atomic (check and act under
/// one lock), so two connects racing for the last slot cannot both win. Never blocks beyond that short lock.
/// </summary>
public sealed class ConnectionSlots(int maxPerUser)
{
    private readonly Dictionary<string, int> open = new(StringComparer.Ordinal);

    /// <summary>The limit per user.</summary>
    public int MaxPerUser { get; } = maxPerUser;

    /// <summary>Open connections of one user (0 when none).</summary>
    public int CountOf(string user)
    {
        lock (open)
        {
            return open.GetValueOrDefault(user);
        }
    }

    /// <summary>Takes one of the user's slots; false when the user is at the limit.</summary>
    public bool TryTake(string user)
    {
        lock (open)
        {
            var count = open.GetValueOrDefault(user);
            if (count >= MaxPerUser)
            {
                return false;
            }

            open[user] = count + 1;
            return true;
        }
    }

    /// <summary>Gives a slot back. Call exactly once per successful <see cref="TryTake"/>.</summary>
    public void Release(string user)
    {
        lock (open)
        {
            if (open.TryGetValue(user, out var count))
            {
                if (count <= 1)
                {
                    open.Remove(user);
                }
                else
                {
                    open[user] = count - 1;
                }
            }
        }
    }
}
