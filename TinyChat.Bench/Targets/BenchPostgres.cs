using System.Diagnostics;
using System.Globalization;

namespace TinyChat.Bench.Targets;

/// <summary>
/// A PostgreSQL server of the bench's own, from Debian's packages (<c>make postgres</c>): a new cluster in a temp
/// folder on a free 127.0.0.1 port, run as the <c>postgres</c> user when the bench runs as root. Durability as
/// shipped (fsync and synchronous_commit on): the bench measures acknowledged, durable messages.
/// </summary>
public sealed class BenchPostgres : IAsyncDisposable
{
    private const string User = "tinychat";
    private readonly string bin;
    private readonly string data;
    private readonly Process postmaster;

    private BenchPostgres(string bin, string data, int port, Process postmaster)
    {
        this.bin = bin;
        this.data = data;
        this.postmaster = postmaster;
        ConnectionString = $"Host=127.0.0.1;Port={port};Username={User};Database=tinychat";
    }

    /// <summary>The postmaster's process id (its backends are its children).</summary>
    public int Pid => postmaster.Id;

    /// <summary>The database TinyChat uses (no password: the cluster trusts local connections).</summary>
    public string ConnectionString { get; }

    /// <summary>Creates and starts the cluster and its <c>tinychat</c> database; the server's output goes to <paramref name="logPath"/>.</summary>
    public static async Task<BenchPostgres> StartAsync(int port, string logPath, CancellationToken cancellationToken)
    {
        var bin = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(v => Path.Combine(v, "bin")).Where(b => File.Exists(Path.Combine(b, "initdb"))).Order(StringComparer.Ordinal).LastOrDefault()
            : null;
        if (bin is null)
        {
            throw new InvalidOperationException("PostgreSQL is not installed (Debian's postgresql): run `make postgres`");
        }

        var data = Directory.CreateTempSubdirectory("tinychat-bench-pg-").FullName;
        if (Environment.UserName == "root")
        {
            await RunAsync("chown", ["-R", "postgres:postgres", data], asPostgres: false, cancellationToken).ConfigureAwait(false);
        }

        await RunAsync(Path.Combine(bin, "initdb"), ["-D", data, "-U", User, "-A", "trust", "-E", "UTF8", "--locale=C.UTF-8"], asPostgres: true, cancellationToken).ConfigureAwait(false);
        var info = Command(Path.Combine(bin, "postgres"),
        [
            "-D", data, "-p", port.ToString(CultureInfo.InvariantCulture),
            "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + data,
            "-c", "max_connections=200", "-c", "shared_buffers=128MB", "-c", "log_min_messages=warning",
        ], asPostgres: true);
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(logPath))!);
        var log = new StreamWriter(logPath, append: false) { AutoFlush = true };
        var process = Process.Start(info) ?? throw new InvalidOperationException("could not start postgres");
        process.OutputDataReceived += (_, e) => Write(log, e.Data);
        process.ErrorDataReceived += (_, e) => Write(log, e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var server = new BenchPostgres(bin, data, port, process);
        try
        {
            string[] ready = ["-h", "127.0.0.1", "-p", port.ToString(CultureInfo.InvariantCulture), "-U", User];
            for (var attempt = 0; ; attempt++)
            {
                if (process.HasExited)
                {
                    throw new InvalidOperationException($"postgres exited with {process.ExitCode} (see {logPath})");
                }

                try
                {
                    await RunAsync(Path.Combine(bin, "pg_isready"), ready, asPostgres: false, cancellationToken).ConfigureAwait(false);
                    break;
                }
                catch (InvalidOperationException) when (attempt < 300)
                {
                    await Task.Delay(200, cancellationToken).ConfigureAwait(false);
                }
            }

            await RunAsync(Path.Combine(bin, "createdb"), [.. ready, "tinychat"], asPostgres: false, cancellationToken).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!postmaster.HasExited)
            {
                using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await RunAsync(Path.Combine(bin, "pg_ctl"), ["stop", "-D", data, "-m", "fast", "-w"], asPostgres: true, timeout.Token).ConfigureAwait(false);
                await postmaster.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or OperationCanceledException)
        {
            postmaster.Kill();
        }

        postmaster.Dispose();
        try
        {
            Directory.Delete(data, recursive: true);
        }
        catch (IOException)
        {
        }
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
        foreach (var arg in runAs ? ["--reuid=postgres", "--regid=postgres", "--init-groups", "--", file, .. args] : args)
        {
            info.ArgumentList.Add(arg);
        }

        return info;
    }

    private static async Task RunAsync(string file, IReadOnlyList<string> args, bool asPostgres, CancellationToken cancellationToken)
    {
        using var process = Process.Start(Command(file, args, asPostgres)) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).WaitAsync(TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Path.GetFileName(file)} failed ({process.ExitCode}): {await stdout.ConfigureAwait(false)}{await stderr.ConfigureAwait(false)}");
        }
    }

    private static void Write(StreamWriter log, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (log)
        {
            log.WriteLine(line);
        }
    }
}
