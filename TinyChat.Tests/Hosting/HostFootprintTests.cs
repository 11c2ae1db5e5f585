using System.Text.Json.Nodes;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Hosting;

/// <summary>What the host spends besides the chat: no thread woken by the server's own files, no idle worker spinning.</summary>
[TestFixture]
[NonParallelizable]
public sealed class HostFootprintTests
{
    [Test]
    public async Task A_running_server_watches_no_folder()
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Ignore("counts inotify instances in /proc/self/fd");
        }

        var before = InotifyInstances();
        await using var server = await TestServer.StartAsync();
        var token = await server.RegisterAsync("watcher");
        await using var socket = await server.ConnectAsync(token);

        // The configuration folder holds the SQLite files: a watcher there would wake a thread on every commit.
        Assert.That(InotifyInstances(), Is.EqualTo(before));
    }

    [Test]
    public void Idle_thread_pool_workers_block_instead_of_spinning()
    {
        // The runtime's default lets an idle worker spin (sched_yield) before it blocks: on two busy cores that was
        // 8 % of a connect storm's CPU, taken from the work the spinning waited for.
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "tinychat.runtimeconfig.json")))!;
        var spin = config["runtimeOptions"]?["configProperties"]?["System.Threading.ThreadPool.UnfairSemaphoreSpinLimit"];
        Assert.That(spin?.GetValue<int>(), Is.EqualTo(0));
    }

    private static int InotifyInstances() =>
        new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos().Count(fd => fd.LinkTarget == "anon_inode:inotify");
}
