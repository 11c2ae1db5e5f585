using System.Net;

namespace TinyChat.Web;

/// <summary>Handles one HTTP request until its response (or the connection it upgraded) is done.</summary>
public delegate Task RouteHandler(HttpListenerContext context, CancellationToken cancellationToken);

/// <summary>
/// A path a front door answers. Front doors register their routes at composition time; a path that ends with
/// <c>/</c> and has <paramref name="MatchesPrefix"/> set also answers everything below it (e.g. <c>/api/rooms/</c>).
/// </summary>
public sealed record Route(string Path, RouteHandler Handler, bool MatchesPrefix = false);

/// <summary>
/// The server's routes: exact paths first, then the longest matching prefix. Built once; lookups never allocate
/// and never block. A path registered twice is a composition bug and stops start-up.
/// </summary>
public sealed class RouteTable
{
    private readonly Dictionary<string, Route> exact = new(StringComparer.Ordinal);
    private readonly Route[] prefixes;

    /// <summary>Builds the table from every registered route.</summary>
    public RouteTable(IEnumerable<Route> routes)
    {
        var prefixList = new List<Route>();
        foreach (var route in routes)
        {
            if (route.MatchesPrefix)
            {
                if (prefixList.Any(r => r.Path == route.Path))
                {
                    throw new InvalidOperationException($"route prefix {route.Path} is registered twice");
                }

                prefixList.Add(route);
            }
            else if (!exact.TryAdd(route.Path, route))
            {
                throw new InvalidOperationException($"route {route.Path} is registered twice");
            }
        }

        prefixes = [.. prefixList.OrderByDescending(r => r.Path.Length)];
    }

    /// <summary>The route answering <paramref name="path"/>, or null (static files answer the rest).</summary>
    public Route? Find(string path)
    {
        if (exact.TryGetValue(path, out var route))
        {
            return route;
        }

        foreach (var prefix in prefixes)
        {
            if (path.StartsWith(prefix.Path, StringComparison.Ordinal))
            {
                return prefix;
            }
        }

        return null;
    }
}
