using System.Globalization;
using System.Net;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Protocols.Json;
using TinyChat.Web;

namespace TinyChat.Protocols.Http;

/// <summary>
/// <c>GET</c>/<c>POST /api/invites</c> and <c>DELETE /api/invites/{id}</c>: the invite codes of
/// <c>Chat:Registration = invite</c>, for server admins (<c>Chat:Admins</c> and the first seed user), the same codes
/// <c>tinychat invites</c> manages. Each request is admitted through <see cref="ApiCallers"/> like any API call.
/// </summary>
public sealed class InviteEndpoints(ApiCallers callers, IInviteStore invites, TimeProvider time, IOptions<ServerOptions> server, ILogger<InviteEndpoints> logger)
{
    private const string Prefix = "/api/invites/";

    /// <summary><c>GET /api/invites</c> (every code), <c>POST /api/invites</c> (a new code, shown once).</summary>
    public Task HandleAllAsync(HttpListenerContext context, CancellationToken cancellationToken) => context.Request.HttpMethod switch
    {
        "GET" => AnswerAsync(context, cancellationToken, async _ =>
        {
            var all = await invites.ListInvitesAsync(cancellationToken).ConfigureAwait(false);
            return ApiResponse.Json(200, w =>
            {
                w.WriteStartObject();
                w.WriteStartArray("invites");
                foreach (var invite in all)
                {
                    WriteInvite(w, invite, code: null);
                }

                w.WriteEndArray();
                w.WriteEndObject();
            });
        }),
        "POST" => AnswerAsync(context, cancellationToken, async client =>
        {
            var (fields, refusal) = await ApiBody.ReadFieldsAsync(context.Request, server.Value.MaxRequestBodyBytes, cancellationToken).ConfigureAwait(false);
            if (refusal is not null)
            {
                return refusal;
            }

            var uses = 1;
            if (fields!.TryGetValue("uses", out var usesText)
                && !(int.TryParse(usesText, NumberStyles.None, CultureInfo.InvariantCulture, out uses) && uses is >= 1 and <= InviteCodes.MaxUses))
            {
                return ApiResponse.Error(422, "invalid_field", $"\"uses\" is a whole number 1..{InviteCodes.MaxUses}");
            }

            if (InviteCodes.ParseLifetime(fields.GetValueOrDefault("expires_in") ?? "7d", out var why) is not { } lifetime)
            {
                return ApiResponse.Error(422, "invalid_field", $"\"expires_in\": {why}");
            }

            var code = InviteCodes.New();
            var created = await invites.CreateInviteAsync(code, uses, time.GetUtcNow() + lifetime, cancellationToken).ConfigureAwait(false);
            logger.LogInformation("Invite {Invite} created by {User}: {Uses} uses until {ExpiresAt}", created.Id, client.User, uses, created.ExpiresAt);
            return ApiResponse.Json(201, w => WriteInvite(w, created, code), Prefix + created.Id.ToString(CultureInfo.InvariantCulture));
        }, readsBody: true),
        _ => NotAllowedAsync(context, "GET, POST"),
    };

    /// <summary><c>DELETE /api/invites/{id}</c>: revokes the code (accounts it created stay).</summary>
    public Task HandleOneAsync(HttpListenerContext context, CancellationToken cancellationToken)
    {
        if (context.Request.HttpMethod != "DELETE")
        {
            return NotAllowedAsync(context, "DELETE");
        }

        var rest = (context.Request.Url?.AbsolutePath ?? "")[Prefix.Length..].TrimEnd('/');
        if (!long.TryParse(rest, NumberStyles.None, CultureInfo.InvariantCulture, out var id))
        {
            context.Response.KeepAlive = !context.Request.HasEntityBody;
            return HttpReply.ErrorAsync(context.Response, 404, "not_found", "an invite is addressed by its id: /api/invites/{id}");
        }

        return AnswerAsync(context, cancellationToken, async client =>
        {
            if (!await invites.RevokeInviteAsync(id, cancellationToken).ConfigureAwait(false))
            {
                return ApiResponse.Error(404, "invite_not_found", $"no invite {id}");
            }

            logger.LogInformation("Invite {Invite} revoked by {User}", id, client.User);
            return new ApiResponse(204, []);
        });
    }

    private async Task AnswerAsync(HttpListenerContext context, CancellationToken cancellationToken, Func<ChatClient, Task<ApiResponse>> act, bool readsBody = false)
    {
        var response = await callers.ActAsync(
            context.Request,
            client => client.IsAdmin ? act(client) : Task.FromResult(ApiResponse.Error(403, "forbidden", "only server admins manage invite codes")),
            cancellationToken).ConfigureAwait(false);
        if (readsBody && response.Status is 401 or 403 or 429 or 503 && context.Request.HasEntityBody)
        {
            // The body of a refused request was never read: end the connection with the answer.
            context.Response.KeepAlive = false;
        }

        await response.WriteAsync(context.Response).ConfigureAwait(false);
    }

    private static Task NotAllowedAsync(HttpListenerContext context, string allow)
    {
        context.Response.KeepAlive = !context.Request.HasEntityBody;
        return HttpReply.MethodNotAllowedAsync(context.Response, allow);
    }

    private static void WriteInvite(Utf8JsonWriter w, InviteReport invite, string? code)
    {
        w.WriteStartObject();
        w.WriteNumber("id", invite.Id);
        if (code is not null)
        {
            w.WriteString("code", code);
        }

        w.WriteString("hint", invite.Hint);
        w.WriteNumber("uses", invite.Uses);
        w.WriteNumber("uses_left", invite.UsesLeft);
        w.WriteString("expires_at", JsonEventEncoder.Timestamp(invite.ExpiresAt));
        w.WriteString("created_at", JsonEventEncoder.Timestamp(invite.CreatedAt));
        w.WriteEndObject();
    }
}
