using System.Net;
using Microsoft.Extensions.DependencyInjection;
using TinyChat.Tests.Support;
using TinyChat.Web;

namespace TinyChat.Tests.Web;

/// <summary>A handler that holds its thread must not hold back the requests behind it: the accept loop goes on.</summary>
[TestFixture]
public sealed class AcceptTests
{
    [Test]
    public async Task A_request_whose_handler_holds_its_thread_does_not_stop_the_next_requests_being_answered()
    {
        using var entered = new SemaphoreSlim(0);
        using var release = new ManualResetEventSlim();
        await using var server = await TestServer.StartAsync(configure: services => services.AddSingleton(new Route("/test/hold", (context, _) =>
        {
            // Synchronous on purpose: the handler keeps its thread.
            entered.Release();
            release.Wait(TimeSpan.FromSeconds(60));
            context.Response.StatusCode = 204;
            context.Response.Close();
            return Task.CompletedTask;
        })));

        var held = new[] { server.Http.GetAsync("/test/hold"), server.Http.GetAsync("/test/hold") };
        try
        {
            Assert.That(await entered.WaitAsync(TimeSpan.FromSeconds(30)), Is.True, "the first held request arrived");
            Assert.That(await entered.WaitAsync(TimeSpan.FromSeconds(30)), Is.True, "the second held request arrived while the first holds its thread");
            for (var i = 0; i < 5; i++)
            {
                using var health = await server.Http.GetAsync("/healthz").WaitAsync(TimeSpan.FromSeconds(30));
                Assert.That(health.StatusCode, Is.EqualTo(HttpStatusCode.OK), "answered while two handlers hold their threads");
            }
        }
        finally
        {
            release.Set();
        }

        foreach (var response in await Task.WhenAll(held).WaitAsync(TimeSpan.FromSeconds(30)))
        {
            Assert.That(response.StatusCode, Is.EqualTo(HttpStatusCode.NoContent));
            response.Dispose();
        }
    }
}
