using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using TinyChat.Protocols.Http;
using TinyChat.Runtime;
using TinyChat.Web;

namespace TinyChat.Hosting;

/// <summary>
/// Composition of the HTTP API and its Server-Sent Event streams (docs/http-api.md), the fourth front door.
/// </summary>
/// <remarks>
/// It lives in <c>Protocols/Http/</c>, not <c>Web/</c>: like the JSON WebSocket protocol it is an adapter that
/// turns one wire format into calls on the chat core (and chat events into its own encoding), while <c>Web/</c>
/// holds what every front door shares (the listener, routes, the gate, the outbox).
/// </remarks>
public static class HttpApiComposition
{
    /// <summary>Registers the API's routes, the <c>Sse</c> options and the open streams (ended on shutdown before the server stops).</summary>
    public static IServiceCollection AddHttpApi(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<SseOptions>()
            .Bind(configuration.GetSection("Sse"), o => o.ErrorOnUnknownConfiguration = true)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<SseOptions>, SseOptionsValidation>();
        services.AddSingleton<ApiCallers>();
        services.AddSingleton<IForgetsIdle>(sp => sp.GetRequiredService<ApiCallers>());
        services.AddSingleton(sp => new IdempotencyKeys(sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton<OpenEventStreams>();
        services.AddSingleton<EventStreamEndpoint>();
        services.AddSingleton<HttpApiEndpoints>();
        services.AddSingleton<InviteEndpoints>();

        // Registered after the HTTP server, so stopped before it: streams end while the listener still carries them.
        services.AddHostedService(sp => sp.GetRequiredService<OpenEventStreams>());
        services.AddSingleton(sp => new Route("/api/me", sp.GetRequiredService<HttpApiEndpoints>().HandleMeAsync));
        services.AddSingleton(sp => new Route("/api/rooms", sp.GetRequiredService<HttpApiEndpoints>().HandleRoomsAsync));
        services.AddSingleton(sp => new Route("/api/rooms/", sp.GetRequiredService<HttpApiEndpoints>().HandleRoomAsync, MatchesPrefix: true));
        services.AddSingleton(sp => new Route("/api/users/", sp.GetRequiredService<HttpApiEndpoints>().HandleUserAsync, MatchesPrefix: true));
        services.AddSingleton(sp => new Route("/api/events", sp.GetRequiredService<EventStreamEndpoint>().HandleAllAsync));
        services.AddSingleton(sp => new Route("/api/invites", sp.GetRequiredService<InviteEndpoints>().HandleAllAsync));
        services.AddSingleton(sp => new Route("/api/invites/", sp.GetRequiredService<InviteEndpoints>().HandleOneAsync, MatchesPrefix: true));
        return services;
    }

    private sealed class SseOptionsValidation : IValidateOptions<SseOptions>
    {
        public ValidateOptionsResult Validate(string? name, SseOptions o)
        {
            List<string> failures = [];
            if (!(o.KeepAliveSeconds > 0 && o.KeepAliveSeconds <= 3600))
            {
                failures.Add($"Sse:KeepAliveSeconds must be more than 0 and at most 3600, got {o.KeepAliveSeconds}");
            }

            if (o.RetryMilliseconds is < 100 or > 600_000)
            {
                failures.Add($"Sse:RetryMilliseconds must be 100..600000, got {o.RetryMilliseconds}");
            }

            if (o.OutboxCapacity < 2)
            {
                failures.Add($"Sse:OutboxCapacity must be >= 2, got {o.OutboxCapacity}");
            }

            return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
        }
    }
}
