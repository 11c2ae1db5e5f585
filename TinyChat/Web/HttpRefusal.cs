using System.Net;
using TinyChat.Chat;

namespace TinyChat.Web;

/// <summary>Why a request is refused before any front door serves it: a status, a machine code and a sentence.</summary>
public sealed record HttpRefusal(int Status, string Code, string Message)
{
    /// <summary>The HTTP form of a core refusal to admit a user.</summary>
    public static HttpRefusal From(ChatError error) => error.Code switch
    {
        "missing_token" or "invalid_token" => new(401, error.Code, error.Message),
        "too_many_connections" or "rate_limited" or "too_many_failed_sign_ins" => new(429, error.Code, error.Message),
        "unavailable" => new(503, error.Code, error.Message),
        _ => new(400, error.Code, error.Message),
    };

    /// <summary>
    /// Writes the refusal as a JSON error and ends the response. A refused upgrade also ends the connection
    /// (<c>Connection: close</c>, then a clean FIN): the client will not reuse it, and leaving it open until an idle
    /// timer fires is what ends in a reset.
    /// </summary>
    public Task WriteAsync(HttpListenerResponse response, bool endConnection = false)
    {
        if (endConnection)
        {
            response.KeepAlive = false;
        }

        if (Code == SignIns.Code)
        {
            response.Headers["Retry-After"] = "60";
        }

        return HttpReply.ErrorAsync(response, Status, Code, Message);
    }
}
