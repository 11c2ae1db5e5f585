using TinyChat.Tests.Support;

namespace TinyChat.Tests.Hosting;

/// <summary>What the host costs while nobody talks: no thread woken by the server's own files.</summary>
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

    private static int InotifyInstances() =>
        new DirectoryInfo("/proc/self/fd").EnumerateFileSystemInfos().Count(fd => fd.LinkTarget == "anon_inode:inotify");
}
