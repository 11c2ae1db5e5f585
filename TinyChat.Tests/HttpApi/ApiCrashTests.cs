using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.Data.Sqlite;
using TinyChat.Tests.Support;
using static TinyChat.Tests.HttpApi.Api;

namespace TinyChat.Tests.HttpApi;

/// <summary>The server as an OS process, killed with SIGKILL while bots post over HTTP: no acknowledged post is lost.</summary>
[TestFixture]
[Category("Process")]
public sealed class ApiCrashTests
{
    [Test]
    public async Task Kill_9_loses_no_post_that_was_answered_201()
    {
        using var config = new TempConfig(c => c["Limits"] = JsonNode.Parse("""{"MessagesPerSecond":0,"FramesPerSecond":0}"""));
        var acknowledged = new ConcurrentBag<string>();
        await using (var first = await ServerProcess.StartAsync(config.Path, ServerProcess.FreePort()))
        {
            using var http = new HttpClient { BaseAddress = first.BaseUri, Timeout = TimeSpan.FromSeconds(10) };
            Assert.That((await SendAsync(http, HttpMethod.Put, "/api/rooms/default/membership", "foo_token")).Status, Is.EqualTo(201));
            using var enough = new SemaphoreSlim(0);
            var posters = Enumerable.Range(0, 3).Select(p => Task.Run(async () =>
            {
                for (var i = 0; i < 2000; i++)
                {
                    var text = $"bot{p}-{i}";
                    try
                    {
                        if ((await PostMessageAsync(http, "/api/rooms/default/messages", "foo_token", text)).Status != 201)
                        {
                            return;
                        }
                    }
                    catch (HttpRequestException)
                    {
                        return;
                    }

                    acknowledged.Add(text);
                    if (acknowledged.Count == 100)
                    {
                        enough.Release();
                    }
                }
            })).ToArray();

            Assert.That(await enough.WaitAsync(TimeSpan.FromSeconds(30)), Is.True, "the bots got 100 answers");
            await first.SignalAsync("KILL");
            await first.WaitForExitAsync(TimeSpan.FromSeconds(20));
            await Task.WhenAll(posters).WaitAsync(TimeSpan.FromSeconds(30));
        }

        SqliteConnection.ClearAllPools();
        await using var second = await ServerProcess.StartAsync(config.Path, ServerProcess.FreePort());
        using var again = new HttpClient { BaseAddress = second.BaseUri, Timeout = TimeSpan.FromSeconds(10) };
        var stored = new HashSet<string>();
        long after = 0;
        for (var page = 0; page < 100; page++)
        {
            var (status, body, _) = await GetAsync(again, $"/api/rooms/default/messages?after={after}&limit=200", "foo_token");
            Assert.That(status, Is.EqualTo(200));
            var messages = body.GetProperty("messages");
            if (messages.GetArrayLength() == 0)
            {
                break;
            }

            foreach (var message in messages.EnumerateArray())
            {
                stored.Add(message.GetProperty("message").GetString()!);
                after = message.GetProperty("id").GetInt64();
            }
        }

        Assert.That(acknowledged.Where(text => !stored.Contains(text)), Is.Empty, $"all {acknowledged.Count} acknowledged posts survived");
        SqliteConnection.ClearAllPools();
    }
}
