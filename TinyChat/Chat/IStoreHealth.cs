namespace TinyChat.Chat;

/// <summary>What the store reports about itself: its provider and whether it can take requests now.</summary>
/// <param name="Provider">The configured provider (<c>sqlite</c>, <c>postgres</c>, <c>memory</c>).</param>
/// <param name="Available">False while the store refuses requests (for example during a database outage).</param>
/// <param name="Problem">Why it is unavailable; null when available.</param>
/// <param name="Since">When it became unavailable; null when available.</param>
public sealed record StoreHealth(string Provider, bool Available, string? Problem, DateTimeOffset? Since)
{
    /// <summary>A store that is always available (in-process providers).</summary>
    public static StoreHealth AlwaysAvailable(string provider) => new(provider, true, null, null);
}

/// <summary>The store's health, for <c>/healthz</c> and the like; reading it never touches the database.</summary>
public interface IStoreHealth
{
    /// <summary>The state now.</summary>
    StoreHealth Current { get; }
}
