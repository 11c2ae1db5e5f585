using System.Net;

namespace TinyChat.Web;

/// <summary>Serves files under one folder, never outside it.</summary>
public sealed class StaticFiles(string root)
{
    private static readonly Dictionary<string, string> ContentTypes = new(StringComparer.OrdinalIgnoreCase)
    {
        [".html"] = "text/html; charset=utf-8",
        [".js"] = "text/javascript; charset=utf-8",
        [".mjs"] = "text/javascript; charset=utf-8",
        [".css"] = "text/css; charset=utf-8",
        [".json"] = "application/json; charset=utf-8",
        [".txt"] = "text/plain; charset=utf-8",
        [".svg"] = "image/svg+xml",
        [".png"] = "image/png",
        [".jpg"] = "image/jpeg",
        [".ico"] = "image/x-icon",
        [".webmanifest"] = "application/manifest+json",
        [".woff2"] = "font/woff2",
    };

    private readonly string root = Path.GetFullPath(root).TrimEnd(Path.DirectorySeparatorChar) + Path.DirectorySeparatorChar;

    /// <summary>The folder served.</summary>
    public string Root => root;

    /// <summary>Content type for a file name.</summary>
    public static string ContentTypeOf(string path) =>
        ContentTypes.TryGetValue(Path.GetExtension(path), out var type) ? type : "application/octet-stream";

    /// <summary>
    /// Maps a raw request path to a file under the root, or null. Encoded separators, dot segments,
    /// backslashes and NULs are refused outright rather than normalised, so nothing can climb out.
    /// </summary>
    public string? Resolve(string rawPath)
    {
        var query = rawPath.IndexOfAny(['?', '#']);
        var path = query >= 0 ? rawPath[..query] : rawPath;
        if (!path.StartsWith('/') || path.Contains('\\') || path.Contains("//", StringComparison.Ordinal))
        {
            return null;
        }

        string decoded;
        try
        {
            decoded = Uri.UnescapeDataString(path);
        }
        catch (UriFormatException)
        {
            return null;
        }

        if (decoded.Contains('\\') || decoded.Contains('\0') || decoded.Contains("//", StringComparison.Ordinal) || decoded.Contains('%'))
        {
            return null;
        }

        if (path.Contains("%2f", StringComparison.OrdinalIgnoreCase) || path.Contains("%5c", StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var segments = decoded.TrimStart('/').Split('/');
        if (segments.Any(s => s is "." or ".." || s.StartsWith('.')))
        {
            return null;
        }

        var relative = decoded == "/" ? "chat.html" : decoded.TrimStart('/');
        var full = Path.GetFullPath(Path.Combine(root, relative));
        return full.StartsWith(root, StringComparison.Ordinal) && File.Exists(full) ? full : null;
    }

    /// <summary>Writes the file with its content type and the security headers every page carries.</summary>
    public static async Task ServeAsync(HttpListenerResponse response, string file, bool headOnly)
    {
        var bytes = await File.ReadAllBytesAsync(file).ConfigureAwait(false);
        response.StatusCode = 200;
        response.ContentType = ContentTypeOf(file);
        SecurityHeaders.Apply(response);
        response.Headers["Cache-Control"] = "no-cache";
        response.ContentLength64 = bytes.Length;
        try
        {
            if (!headOnly)
            {
                await response.OutputStream.WriteAsync(bytes).ConfigureAwait(false);
            }
        }
        finally
        {
            response.Close();
        }
    }
}

/// <summary>Headers that keep pages from running foreign or inline script.</summary>
public static class SecurityHeaders
{
    /// <summary>No inline script, no foreign origins, no framing.</summary>
    public const string ContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'";

    /// <summary>Adds CSP, nosniff and no-referrer.</summary>
    public static void Apply(HttpListenerResponse response)
    {
        response.Headers["Content-Security-Policy"] = ContentSecurityPolicy;
        response.Headers["X-Content-Type-Options"] = "nosniff";
        response.Headers["Referrer-Policy"] = "no-referrer";
        response.Headers["X-Frame-Options"] = "DENY";
    }
}
