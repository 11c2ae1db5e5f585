using System.Text.Json.Nodes;
using TinyChat.Hosting;

namespace TinyChat.Tests.Support;

/// <summary>A temp folder with a copy of chat.config.json that a test may edit.</summary>
public sealed class TempConfig : IDisposable
{
    /// <summary>Copies the shipped configuration into a new temp folder.</summary>
    public TempConfig(Action<JsonObject>? edit = null)
    {
        Directory = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "tinychat-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(Directory);
        var config = JsonNode.Parse(File.ReadAllText(System.IO.Path.Combine(AppContext.BaseDirectory, TinyChatHost.ConfigFileName)))!.AsObject();
        edit?.Invoke(config);
        Path = System.IO.Path.Combine(Directory, TinyChatHost.ConfigFileName);
        File.WriteAllText(Path, config.ToJsonString());
    }

    /// <summary>The folder.</summary>
    public string Directory { get; }

    /// <summary>The config file.</summary>
    public string Path { get; }

    /// <summary>Replaces the file's text.</summary>
    public void Write(string text) => File.WriteAllText(Path, text);

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
