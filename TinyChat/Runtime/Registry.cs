using System.Collections.Concurrent;

namespace TinyChat.Runtime;

/// <summary>Unique names for live processes. Safe under concurrent lookup and registration.</summary>
public sealed class Registry<TKey, TProcess>(IEqualityComparer<TKey>? comparer = null)
    where TKey : notnull
    where TProcess : class
{
    private readonly ConcurrentDictionary<TKey, TProcess> entries = new(comparer);

    /// <summary>Live registrations.</summary>
    public int Count => entries.Count;

    /// <summary>The processes registered now (a snapshot). Never blocks.</summary>
    public IReadOnlyList<TProcess> All => [.. entries.Values];

    /// <summary>The processes registered now, enumerated without copying (concurrent changes may or may not be seen). Never blocks.</summary>
    public IEnumerable<TProcess> Enumerate()
    {
        foreach (var entry in entries)
        {
            yield return entry.Value;
        }
    }

    /// <summary>Looks a name up. Never blocks.</summary>
    public bool TryLookup(TKey name, out TProcess process) => entries.TryGetValue(name, out process!);

    /// <summary>Registers a name; false when it is taken.</summary>
    public bool TryRegister(TKey name, TProcess process) => entries.TryAdd(name, process);

    /// <summary>Returns the process registered under the name, registering a new one from <paramref name="create"/> when there is none.</summary>
    /// <remarks><paramref name="create"/> may run for a loser of a race; only the returned process may be started, and only when <paramref name="created"/>.</remarks>
    public TProcess GetOrRegister(TKey name, Func<TKey, TProcess> create, out bool created)
    {
        if (entries.TryGetValue(name, out var existing))
        {
            created = false;
            return existing;
        }

        var candidate = create(name);
        var winner = entries.GetOrAdd(name, candidate);
        created = ReferenceEquals(winner, candidate);
        return winner;
    }

    /// <summary>Hands a name from <paramref name="process"/> to <paramref name="successor"/> in one step; false when it no longer belongs to <paramref name="process"/>.</summary>
    public bool TryReplace(TKey name, TProcess process, TProcess successor) => entries.TryUpdate(name, successor, process);

    /// <summary>Releases a name, but only if it still belongs to <paramref name="process"/> (a successor keeps its name).</summary>
    public bool Unregister(TKey name, TProcess process) =>
        entries.TryRemove(new KeyValuePair<TKey, TProcess>(name, process));
}
