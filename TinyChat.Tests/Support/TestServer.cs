using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using TinyChat.Hosting;
using TinyChat.Web;

namespace TinyChat.Tests.Support;

/// <summary>The real TinyChat host on 127.0.0.1 and a free port, configured from a temp copy of chat.config.json.</summary>
public sealed class TestServer : IAsyncDisposable
{
    private readonly IHost host;

    private TestServer(IHost host, string directory)
    {
        this.host = host;
        Directory = directory;
        BaseUri = host.Services.GetRequiredService<ServerAddress>().BaseUri!;
        Http = new HttpClient { BaseAddress = BaseUri, Timeout = TimeSpan.FromSeconds(10) };
    }

    /// <summary>Temp folder holding this server's configuration (and data).</summary>
    public string Directory { get; }

    /// <summary>http://127.0.0.1:PORT/.</summary>
    public Uri BaseUri { get; }

    /// <summary>A client for plain HTTP requests.</summary>
    public HttpClient Http { get; }

    /// <summary>The host's services.</summary>
    public IServiceProvider Services => host.Services;

    /// <summary>The ws:// URI of an endpoint.</summary>
    public Uri WebSocketUri(string pathAndQuery) => new($"ws://{BaseUri.Authority}{pathAndQuery}");

    /// <summary>Starts a server. <paramref name="overrides"/> are configuration keys such as <c>WebSocket:IdleTimeoutSeconds</c>.</summary>
    public static async Task<TestServer> StartAsync(IDictionary<string, string>? overrides = null, Action<IServiceCollection>? configure = null)
    {
        var directory = Path.Combine(Path.GetTempPath(), "tinychat-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var config = JsonNode.Parse(await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, TinyChatHost.ConfigFileName)))!.AsObject();
        config["Logging"] = JsonNode.Parse("""{"LogLevel":{"Default":"Warning"}}""");
        var configPath = Path.Combine(directory, TinyChatHost.ConfigFileName);
        await File.WriteAllTextAsync(configPath, config.ToJsonString());

        var args = new List<string>
        {
            "--config", configPath,
            "--static", Path.Combine(AppContext.BaseDirectory, "static"),
            "--host", "127.0.0.1",
            "--port", "0",
        };
        // Real SQLite by default, in this server's own temp folder; tests may override any Storage key.
        overrides ??= new Dictionary<string, string>();
        if (!overrides.ContainsKey("Storage:DataDirectory"))
        {
            args.Add("--Storage:DataDirectory");
            args.Add(Path.Combine(directory, "data"));
        }

        if (!overrides.ContainsKey("Irc:Port"))
        {
            args.Add("--Irc:Port");
            args.Add("0");
        }

        foreach (var (key, value) in overrides)
        {
            args.Add($"--{key}");
            args.Add(value);
        }

        IHost? host = null;
        try
        {
            host = TinyChatHost.Build([.. args], configure);
            await host.StartAsync();
            return new TestServer(host, directory);
        }
        catch
        {
            // A server that refused to start leaves nothing behind: no open file, no temp folder.
            host?.Dispose();
            System.IO.Directory.Delete(directory, recursive: true);
            throw;
        }
    }

    /// <summary>Opens an authenticated WebSocket to /chat and waits until the server has attached it to its user's session.</summary>
    public async Task<ChatSocket> ConnectAsync(string token, string extraQuery = "")
    {
        var socket = await ChatSocket.ConnectAsync(WebSocketUri($"/chat?access_token={Uri.EscapeDataString(token)}{extraQuery}"));

        // The server reads frames only once the connection is attached, so a reply proves it is ready.
        await socket.RequestAsync(new Dictionary<string, object?> { ["command"] = "ping" });
        return socket;
    }

    /// <summary>Registers a user and returns the token.</summary>
    public async Task<string> RegisterAsync(string username)
    {
        using var response = await Http.PostAsJsonAsync("/api/users", new { username });
        response.EnsureSuccessStatusCode();
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return body.GetProperty("access_token").GetString()!;
    }

    /// <summary>Stops the host (as on SIGTERM).</summary>
    public async Task StopAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await host.StopAsync(timeout.Token);
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        finally
        {
            host.Dispose();
            Http.Dispose();
            try
            {
                System.IO.Directory.Delete(Directory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
