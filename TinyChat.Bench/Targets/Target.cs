using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace TinyChat.Bench.Targets;

/// <summary>
/// A chat server under test on 127.0.0.1: TinyChat or a raw peer as a child process, or the in-process sink.
/// Knows its WebSocket address, its users' tokens, and how to read its memory and CPU.
/// </summary>
public sealed class Target : IAsyncDisposable
{
    private const int RegistrationParallelism = 16;

    /// <summary>
    /// TinyChat's per-user and per-address limits, turned off (a rate of 0 is off): the bench sends from one machine at
    /// rates far above a person's, and measures the engine, not the rate limiter. The peers have no such limits.
    /// </summary>
    public static readonly string[] LimitsOff =
    [
        "--Limits:MessagesPerSecond", "0",
        "--Limits:FramesPerSecond", "0",
        "--Limits:RegistrationsPerMinutePerAddress", "0",
        "--Limits:ConnectionsPerMinutePerAddress", "0",
        "--Limits:MaxRoomsCreatedPerUser", "1000000",
    ];

    // IRC on a free port: 6667 may be taken by another TinyChat (the other target, a developer's own).
    private static readonly string[] IrcOnFreePort = ["--Irc:Port", "0"];

    private readonly Process? process;
    private readonly SinkServer? sink;
    private readonly StreamWriter? log;
    private readonly HttpClient http;
    private readonly List<string> tokens = [];
    private readonly string? workDirectory;
    private BenchPostgres? database;

    // Another node of the same cluster, whose users (registered there, stored in the shared database) this one uses.
    private Target? accounts;

    private Target(string name, int port, Process? process, SinkServer? sink, StreamWriter? log, string? workDirectory, string note)
    {
        Name = name;
        Port = port;
        this.process = process;
        this.sink = sink;
        this.log = log;
        this.workDirectory = workDirectory;
        Note = note;
        http = new HttpClient(new SocketsHttpHandler { UseProxy = false, MaxConnectionsPerServer = RegistrationParallelism })
        {
            BaseAddress = new Uri($"http://127.0.0.1:{port}/"),
            Timeout = TimeSpan.FromSeconds(30),
        };
    }

    /// <summary>tinychat, tinychat-pg (TinyChat on a PostgreSQL of the bench's own), phoenix (TinyChat spoken to over Phoenix Channels), kestrel, httplistener, node-ws or sink.</summary>
    public string Name { get; }

    /// <summary>The TCP port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>True for TinyChat: users are registered, rooms must be created, frames may be batched, acknowledgements exist.</summary>
    public bool IsTinyChat => Name.StartsWith("tinychat", StringComparison.Ordinal) || IsPhoenix;

    /// <summary>True for TinyChat spoken to over its Phoenix Channels door (phoenix.js's wire format, vsn 2.0.0).</summary>
    public bool IsPhoenix => Name == "phoenix";

    /// <summary>The name of the TinyChat target started with <c>Metrics:Enabled false</c>.</summary>
    public const string MetricsOffName = "tinychat-nometrics";

    /// <summary>The name of the TinyChat target whose native clients ask for <c>batch=1</c> whatever <c>--tinychat-batch</c> says.</summary>
    public const string LinesName = "tinychat-batch1";

    /// <summary>The <c>batch</c> TinyChat's native clients ask for (0, 1 or 2; see <c>--tinychat-batch</c>).</summary>
    public int Batch { get; set; } = 2;

    /// <summary>The name of the TinyChat target started from another build (<c>--baseline-dir</c>), for before/after.</summary>
    public const string BaselineName = "tinychat-baseline";

    /// <summary>The name of the TinyChat target that stores in PostgreSQL.</summary>
    public const string PostgresName = "tinychat-pg";

    /// <summary>True for the in-process sink (the bench's own ceiling).</summary>
    public bool IsSink => sink is not null;

    /// <summary>The server's process id; null for the in-process sink.</summary>
    public int? Pid => process?.Id;

    /// <summary>What was started, for the report (storage provider, options).</summary>
    public string Note { get; private set; }

    /// <summary>
    /// Starts TinyChat from its Release build with a copy of chat.config.json (logging at Warning) in a temp folder,
    /// as target <paramref name="name"/> (tinychat: native JSON clients; phoenix: Phoenix Channels clients; tinychat-baseline:
    /// another build, from its own checkout in <paramref name="paths"/>).
    /// </summary>
    public static async Task<Target> StartTinyChatAsync(RepositoryPaths paths, IReadOnlyList<string> extraArgs, string logPath, CancellationToken cancellationToken, string name = "tinychat")
    {
        if (!File.Exists(paths.TinyChatDll))
        {
            throw new InvalidOperationException($"{paths.TinyChatDll} is missing: build TinyChat first (dotnet build TinyChat -c {paths.Configuration})");
        }

        var work = Directory.CreateTempSubdirectory("tinychat-bench-").FullName;
        var config = JsonNode.Parse(await File.ReadAllTextAsync(paths.ConfigFile, cancellationToken).ConfigureAwait(false))!.AsObject();
        config["Logging"] = JsonNode.Parse("""{"LogLevel":{"Default":"Warning"}}""");
        var configPath = Path.Combine(work, "chat.config.json");
        await File.WriteAllTextAsync(configPath, config.ToJsonString(), cancellationToken).ConfigureAwait(false);

        var provider = config["Storage"]?["Provider"]?.GetValue<string>() ?? "memory (no Storage section in chat.config.json)";
        for (var i = 0; i + 1 < extraArgs.Count; i++)
        {
            if (extraArgs[i].Equals("--Storage:Provider", StringComparison.OrdinalIgnoreCase))
            {
                provider = extraArgs[i + 1];
            }
        }

        // An older build (a baseline) refuses keys it does not know: without IRC the IRC port, without limits the limits.
        (string[] Args, string Note)[] attempts =
        [
            ([.. LimitsOff, .. IrcOnFreePort], "limits off"),
            ([.. LimitsOff], "limits off, no IRC (older TinyChat)"),
            ([], "no Limits or IRC options (older TinyChat)"),
        ];
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                var target = await LaunchTinyChatAsync(name, paths, configPath, [.. attempts[attempt].Args, .. extraArgs], work, attempt == 0 ? logPath : $"{logPath}.{attempt + 1}", cancellationToken).ConfigureAwait(false);
                target.Note = $"storage {provider}, {attempts[attempt].Note}";
                return target;
            }
            catch (InvalidOperationException) when (attempt + 1 < attempts.Length && !cancellationToken.IsCancellationRequested)
            {
            }
        }
    }

    /// <summary>Starts a PostgreSQL of the bench's own, then TinyChat storing in it (<c>Storage:Provider</c> postgres).</summary>
    public static async Task<Target> StartTinyChatOnPostgresAsync(RepositoryPaths paths, IReadOnlyList<string> extraArgs, string logPath, CancellationToken cancellationToken)
    {
        var database = await BenchPostgres.StartAsync(FreePort(), logPath + ".postgres", cancellationToken).ConfigureAwait(false);
        try
        {
            var target = await StartTinyChatAsync(
                paths,
                [.. extraArgs, "--Storage:Provider", "postgres", "--Storage:ConnectionString", database.ConnectionString],
                logPath,
                cancellationToken,
                PostgresName).ConfigureAwait(false);
            target.database = database;
            target.Note += " (PostgreSQL of the bench's own, fsync on)";
            return target;
        }
        catch
        {
            await database.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private static Task<Target> LaunchTinyChatAsync(
        string name, RepositoryPaths paths, string configPath, IReadOnlyList<string> extraArgs, string work, string logPath, CancellationToken cancellationToken)
    {
        var port = FreePort();
        string[] args =
        [
            paths.TinyChatDll, "--config", configPath, "--static", paths.StaticFolder,
            "--host", "127.0.0.1", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--WebSocket:IdleTimeoutSeconds", "3600", .. extraArgs,
        ];
        return LaunchAsync(name, port, "dotnet", args, work, logPath, TimeSpan.FromSeconds(60), cancellationToken);
    }

    /// <summary>Starts a raw peer through ../shared/peers/start.sh (which builds it the first time).</summary>
    public static Task<Target> StartPeerAsync(string name, string script, string logPath, CancellationToken cancellationToken)
    {
        var port = FreePort();
        return LaunchAsync(name, port, "bash", [script, name, port.ToString(System.Globalization.CultureInfo.InvariantCulture)], null, logPath, TimeSpan.FromMinutes(5), cancellationToken);
    }

    /// <summary>Starts the in-process sink.</summary>
    public static Target StartSink()
    {
        var sink = SinkServer.Start();
        return new Target("sink", sink.Port, null, sink, null, null, "in-process trivial broadcast server");
    }

    /// <summary>The WebSocket URI for user <paramref name="user"/> (TinyChat: that user's token and batching; phoenix: the Phoenix socket).</summary>
    public Uri ChatUri(int user) => IsPhoenix
        ? new Uri($"ws://127.0.0.1:{Port}/socket/websocket?vsn=2.0.0&token={Uri.EscapeDataString((accounts ?? this).tokens[user])}")
        : NativeChatUri(user);

    /// <summary>The native protocol's URI (how TinyChat rooms are created, whatever the target's clients speak).</summary>
    public Uri NativeChatUri(int user) => IsTinyChat
        ? new Uri($"ws://127.0.0.1:{Port}/chat?access_token={Uri.EscapeDataString((accounts ?? this).tokens[user])}&batch={Batch}")
        : new Uri($"ws://127.0.0.1:{Port}/chat?access_token=bench");

    /// <summary>Makes sure users 0..count-1 exist (TinyChat: registers them through POST /api/users).</summary>
    public async Task EnsureUsersAsync(int count, CancellationToken cancellationToken)
    {
        if (accounts is not null)
        {
            await accounts.EnsureUsersAsync(count, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (!IsTinyChat || tokens.Count >= count)
        {
            return;
        }

        var first = tokens.Count;
        var fresh = new string[count - first];
        await Parallel.ForEachAsync(Enumerable.Range(first, count - first), new ParallelOptions
        {
            MaxDegreeOfParallelism = RegistrationParallelism,
            CancellationToken = cancellationToken,
        }, async (user, ct) => fresh[user - first] = await RegisterAsync(user, ct).ConfigureAwait(false)).ConfigureAwait(false);
        tokens.AddRange(fresh);
    }

    private async Task<string> RegisterAsync(int user, CancellationToken cancellationToken)
    {
        const int Attempts = 5;
        for (var attempt = 1; ; attempt++)
        {
            // A retried request may have registered the name before its answer was lost: the next attempt takes a new name.
            var username = attempt == 1 ? $"bench{user}" : $"bench{user}r{attempt}";
            try
            {
                using var response = await http.PostAsJsonAsync("/api/users", new { username }, cancellationToken).ConfigureAwait(false);
                var body = await response.Content.ReadFromJsonAsync<JsonElement>(cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return body.GetProperty("access_token").GetString()!;
                }

                if (attempt == Attempts || (int)response.StatusCode != 409)
                {
                    throw new InvalidOperationException($"POST /api/users {username}: {(int)response.StatusCode} {body}");
                }
            }
            catch (HttpRequestException) when (attempt < Attempts)
            {
                // A kept-alive connection the server had just closed: try again.
            }
        }
    }

    /// <summary>
    /// Makes this TinyChat use the users of <paramref name="registrar"/>, another node on the same database: they are
    /// registered there, and their tokens work on every node.
    /// </summary>
    public void ShareUsersOf(Target registrar) => accounts = registrar;

    /// <summary>Memory, CPU and threads of the server process; null for the sink.</summary>
    public ProcessSample? Sample() => process is null ? null : ProcessSample.Read(process.Id);

    /// <summary>
    /// Waits until the server is idle: it uses under a tenth of a core and, after a measurement
    /// (<paramref name="connectionsClosed"/>), TinyChat reports no open connections on /healthz. Bounded by <paramref name="limit"/>.
    /// </summary>
    public async Task SettleAsync(TimeSpan limit, CancellationToken cancellationToken, bool connectionsClosed = true)
    {
        if (process is null)
        {
            return;
        }

        var deadline = Stopwatch.StartNew();
        var previous = Sample();
        while (deadline.Elapsed < limit)
        {
            await Task.Delay(250, cancellationToken).ConfigureAwait(false);
            var current = Sample();
            if (current is null || previous is null)
            {
                return;
            }

            var idle = current.Value.CoresSince(previous.Value) < 0.1;
            previous = current;
            if (idle && (!IsTinyChat || !connectionsClosed || await OpenConnectionsAsync(cancellationToken).ConfigureAwait(false) == 0))
            {
                return;
            }
        }
    }

    private async Task<long> OpenConnectionsAsync(CancellationToken cancellationToken)
    {
        try
        {
            var health = await http.GetFromJsonAsync<JsonElement>("/healthz", cancellationToken).ConfigureAwait(false);
            return health.GetProperty("connections").GetInt64();
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or KeyNotFoundException or TaskCanceledException)
        {
            return -1;
        }
    }

    /// <summary>Files under the server's work folder whose names end with <paramref name="suffix"/> (finds SQLite databases).</summary>
    public IReadOnlyList<string> WorkFiles(string suffix) => workDirectory is null
        ? []
        : [.. Directory.EnumerateFiles(workDirectory, "*" + suffix, SearchOption.AllDirectories)];

    private static async Task<Target> LaunchAsync(
        string name, int port, string fileName, IReadOnlyList<string> args, string? workDirectory, string logPath, TimeSpan startLimit, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(logPath))!);
        var log = new StreamWriter(logPath, append: false) { AutoFlush = true };
        var process = Process.Start(info) ?? throw new InvalidOperationException($"could not start {fileName}");
        process.OutputDataReceived += (_, e) => WriteLog(log, e.Data);
        process.ErrorDataReceived += (_, e) => WriteLog(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var target = new Target(name, port, process, null, log, workDirectory, "");

        var waited = Stopwatch.StartNew();
        while (!await AcceptsAsync(port, cancellationToken).ConfigureAwait(false))
        {
            if (process.HasExited || waited.Elapsed > startLimit)
            {
                await target.StopAsync(keepWorkDirectory: true).ConfigureAwait(false);
                throw new InvalidOperationException($"{name} did not start listening on 127.0.0.1:{port} within {waited.Elapsed.TotalSeconds:F0} s; see {logPath}");
            }

            await Task.Delay(200, cancellationToken).ConfigureAwait(false);
        }

        return target;
    }

    private static void WriteLog(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            try
            {
                log.WriteLine(line);
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }

    private static async Task<bool> AcceptsAsync(int port, CancellationToken cancellationToken)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(1));
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return false;
        }
    }

    private static int FreePort()
    {
        using var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        return ((IPEndPoint)probe.LocalEndpoint).Port;
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => StopAsync(keepWorkDirectory: false);

    private async ValueTask StopAsync(bool keepWorkDirectory)
    {
        http.Dispose();
        if (sink is not null)
        {
            await sink.DisposeAsync().ConfigureAwait(false);
        }

        if (process is not null)
        {
            try
            {
                if (!process.HasExited)
                {
                    process.Kill(entireProcessTree: true);
                }

                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException or System.ComponentModel.Win32Exception)
            {
            }

            process.Dispose();
        }

        if (log is not null)
        {
            lock (log)
            {
                log.Dispose();
            }
        }

        if (database is not null)
        {
            await database.DisposeAsync().ConfigureAwait(false);
        }

        if (workDirectory is not null && IsTinyChat && !keepWorkDirectory)
        {
            try
            {
                Directory.Delete(workDirectory, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }
}
