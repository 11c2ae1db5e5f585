namespace TinyChat.Bench.Targets;

/// <summary>Where the server build, its configuration and the peers are, found from the bench's own location.</summary>
public sealed record RepositoryPaths(string Root, string Configuration)
{
    /// <summary>The TinyChat server built in the bench's configuration (the bench project builds it too).</summary>
    public string TinyChatDll => Path.Combine(Root, "TinyChat", "bin", Configuration, "net10.0", "tinychat.dll");

    /// <summary>The repository's chat.config.json.</summary>
    public string ConfigFile => Path.Combine(Root, "chat.config.json");

    /// <summary>The repository's static folder.</summary>
    public string StaticFolder => Path.Combine(Root, "static");

    /// <summary>The raw peers' start script: shared/ sits next to the repository.</summary>
    public string PeersScript => Path.GetFullPath(Path.Combine(Root, "..", "shared", "peers", "start.sh"));

    /// <summary>Walks up from the bench's binaries (then the working directory) to the folder holding TinyChat.sln.</summary>
    public static RepositoryPaths Locate()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "TinyChat.sln")))
                {
                    return new RepositoryPaths(dir.FullName, BuildConfiguration());
                }
            }
        }

        throw new InvalidOperationException("cannot find TinyChat.sln above the bench or the working directory");
    }

    private static string BuildConfiguration()
    {
        // .../TinyChat.Bench/bin/<Configuration>/net10.0/
        var tfm = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        return tfm.Parent?.Name ?? "Release";
    }
}
