using System.Net;

namespace TinyChat.Web;

/// <summary>Where HTTP front doors find an access token: <c>Authorization: Bearer</c>, else a query parameter.</summary>
public static class Credentials
{
    /// <summary>The bearer token of the request, or the value of <paramref name="queryParameter"/>; null when neither is there.</summary>
    public static string? AccessToken(HttpListenerRequest request, string queryParameter = "access_token")
    {
        var header = request.Headers["Authorization"];
        if (header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return header["Bearer ".Length..].Trim();
        }

        return request.QueryString[queryParameter];
    }
}
