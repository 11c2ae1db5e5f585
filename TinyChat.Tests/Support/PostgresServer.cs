using System.Diagnostics;
using System.Globalization;
using System.Text;
using Npgsql;

namespace TinyChat.Tests.Support;

/// <summary>
/// A real PostgreSQL server from Debian's packages (installed by <c>make postgres</c>), started in a temporary
/// directory on a free 127.0.0.1 port. When the tests run as root it runs as the <c>postgres</c> user, because
/// PostgreSQL refuses to start as root. Each test asks for its own empty database, so fixtures share one server
/// (<see cref="SharedAsync"/>); a test that stops or restarts the server starts its own with <see cref="StartAsync"/>.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private const string User = "tinychat";
    private static readonly SemaphoreSlim SharedGate = new(1, 1);
    private static PostgresServer? shared;

    private readonly string binDirectory;
    private readonly string dataDirectory;
    private readonly StringBuilder log = new();
    private Process? postmaster;
    private int databases;

    private PostgresServer(string binDirectory, string dataDirectory, int port)
    {
        this.binDirectory = binDirectory;
        this.dataDirectory = dataDirectory;
        Port = port;
    }

    /// <summary>The 127.0.0.1 port it listens on; the same across <see cref="StopAsync"/> and <see cref="RestartAsync"/>.</summary>
    public int Port { get; }

    /// <summary>What the server printed so far (for failure messages).</summary>
    public string Log
    {
        get
        {
            lock (log)
            {
                return log.ToString();
            }
        }
    }

    /// <summary>The server every fixture may share; started on first use, stopped when the test run ends.</summary>
    public static async Task<PostgresServer> SharedAsync()
    {
        await SharedGate.WaitAsync();
        try
        {
            return shared ??= await StartAsync();
        }
        finally
        {
            SharedGate.Release();
        }
    }

    /// <summary>Stops the shared server, if one was started (called once at the end of the run).</summary>
    public static async Task StopSharedAsync()
    {
        if (shared is not null)
        {
            await shared.DisposeAsync();
            shared = null;
        }
    }

    /// <summary>A server of the caller's own (to stop, kill or restart), in a new temporary directory.</summary>
    public static async Task<PostgresServer> StartAsync()
    {
        var bin = FindBinDirectory();
        var data = Path.Combine(Path.GetTempPath(), "tinychat-pg-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(data);
        if (Environment.UserName == "root")
        {
            await RunAsync("chown", ["-R", "postgres:postgres", data], asPostgres: false);
        }

        var server = new PostgresServer(bin, data, ServerProcess.FreePort());
        await RunAsync(Path.Combine(bin, "initdb"), ["-D", data, "-U", User, "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C.UTF-8"], asPostgres: true);
        await server.RestartAsync();
        return server;
    }

    /// <summary>Creates a new empty database and returns its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "t" + Interlocked.Increment(ref databases).ToString(CultureInfo.InvariantCulture) + "_" + Guid.NewGuid().ToString("N")[..8];
        await using (var connection = new NpgsqlConnection(ConnectionString("postgres")))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
            await create.ExecuteNonQueryAsync();
        }

        return ConnectionString(name);
    }

    /// <summary>A connection string for <paramref name="database"/> on this server (no pooling across tests).</summary>
    public string ConnectionString(string database) =>
        $"Host=127.0.0.1;Port={Port};Username={User};Database={database};Timeout=5;Command Timeout=10";

    /// <summary>Runs SQL as the superuser in <paramref name="database"/> (for example <c>pg_terminate_backend</c>).</summary>
    public async Task<int> ExecuteAsync(string database, string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString(database) + ";Pooling=false");
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteNonQueryAsync();
    }

    /// <summary>Stops the server (fast shutdown: open sessions are cut, committed data stays).</summary>
    public async Task StopAsync()
    {
        if (postmaster is null || postmaster.HasExited)
        {
            return;
        }

        await RunAsync(Path.Combine(binDirectory, "pg_ctl"), ["stop", "-D", dataDirectory, "-m", "fast", "-w", "-t", "30"], asPostgres: true);
        await postmaster.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        postmaster.Dispose();
        postmaster = null;
    }

    /// <summary>Kills the postmaster with SIGKILL, as a crash would (its children exit on their own).</summary>
    public async Task KillAsync()
    {
        if (postmaster is null || postmaster.HasExited)
        {
            return;
        }

        postmaster.Kill();
        await postmaster.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        postmaster.Dispose();
        postmaster = null;
    }

    /// <summary>Starts (again) on the same directory and port and waits until it accepts connections.</summary>
    public async Task RestartAsync()
    {
        if (postmaster is not null && !postmaster.HasExited)
        {
            return;
        }

        var info = Command(Path.Combine(binDirectory, "postgres"),
        [
            "-D", dataDirectory, "-p", Port.ToString(CultureInfo.InvariantCulture),
            "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + dataDirectory,
            "-c", "max_connections=300", "-c", "fsync=off", "-c", "full_page_writes=off",
            "-c", "shared_buffers=64MB", "-c", "log_min_messages=warning",
        ], asPostgres: true);
        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        postmaster = process;

        // The "ready" line is logged at LOG level, which log_min_messages=warning hides: ask the server instead.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (process.HasExited)
            {
                throw new InvalidOperationException($"PostgreSQL exited with {process.ExitCode}:\n{Log}");
            }

            try
            {
                await using var connection = new NpgsqlConnection(ConnectionString("postgres") + ";Pooling=false;Timeout=2");
                await connection.OpenAsync();
                return;
            }
            catch (NpgsqlException) when (DateTime.UtcNow < deadline)
            {
                await Task.WhenAny(process.WaitForExitAsync(), Task.Delay(100));
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAsync();
        }
        catch (Exception) when (postmaster is not null)
        {
            await KillAsync();
        }

        try
        {
            Directory.Delete(dataDirectory, recursive: true);
        }
        catch (IOException)
        {
            // A file still held open by a dying backend: the temp directory is cleaned by the OS eventually.
        }
    }

    private static string FindBinDirectory()
    {
        const string root = "/usr/lib/postgresql";
        var bin = Directory.Exists(root)
            ? Directory.GetDirectories(root)
                .Select(version => Path.Combine(version, "bin"))
                .Where(candidate => File.Exists(Path.Combine(candidate, "initdb")))
                .OrderByDescending(candidate => candidate, StringComparer.Ordinal)
                .FirstOrDefault()
            : null;
        return bin ?? throw new InvalidOperationException("PostgreSQL is not installed (Debian's postgresql): run `make postgres`");
    }

    private static ProcessStartInfo Command(string file, IReadOnlyList<string> args, bool asPostgres)
    {
        var runAs = asPostgres && Environment.UserName == "root";
        var info = new ProcessStartInfo(runAs ? "setpriv" : file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (runAs)
        {
            foreach (var arg in new[] { "--reuid=postgres", "--regid=postgres", "--init-groups", "--", file })
            {
                info.ArgumentList.Add(arg);
            }
        }

        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        return info;
    }

    private static async Task RunAsync(string file, IReadOnlyList<string> args, bool asPostgres)
    {
        using var process = Process.Start(Command(file, args, asPostgres))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} failed ({process.ExitCode}): {await stdout}{await stderr}");
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.AppendLine(line);
        }
    }
}
