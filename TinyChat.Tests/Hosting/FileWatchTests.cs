using TinyChat.Tests.Support;
using static TinyChat.Tests.Support.Frames;

namespace TinyChat.Tests.Hosting;

/// <summary>
/// The server watches no files: a watcher on the configuration's folder would also see the data folder under it and
/// wake for every write of the database (the configuration is read once, at start).
/// </summary>
[Category("Process")]
public sealed class FileWatchTests
{
    [Test]
    public async Task A_server_with_its_data_next_to_its_configuration_holds_no_file_watch()
    {
        using var config = new TempConfig();
        var data = Path.Combine(config.Directory, "data");
        var port = ServerProcess.FreePort();
        await using var server = await ServerProcess.StartAsync(config.Path, port, "--data", data);

        await using (var foo = await ChatSocket.ConnectAsync(new Uri($"ws://127.0.0.1:{port}/chat?access_token=foo_token")))
        {
            await foo.RequestAsync(Frame(("command", "join")));
            await foo.RequestAsync(Frame(("room", "default"), ("message", "written to the data folder")));
        }

        var watches = new DirectoryInfo($"/proc/{server.Pid}/fd").EnumerateFileSystemInfos()
            .Select(fd => fd.LinkTarget)
            .Count(target => target is not null && target.Contains("inotify", StringComparison.Ordinal));
        Assert.That(watches, Is.Zero, "inotify descriptors held by the server");
    }
}
