using System.Globalization;
using System.Reflection;
using TinyChat.Runtime;

namespace TinyChat.Hosting;

/// <summary>
/// What the server was asked to do on its command line. Options: <c>--config PATH</c>, <c>--static PATH</c>,
/// <c>--data PATH</c>, <c>--port N</c>, <c>--host H</c>, any configuration key as <c>--Section:Key value</c>,
/// <c>--help</c>/<c>-h</c> and <c>--version</c>. Anything else is an error that names the argument.
/// </summary>
public sealed record CommandLine(
    string? ConfigPath,
    string? StaticPath,
    string? DataPath,
    IReadOnlyList<KeyValuePair<string, string?>> Overrides,
    bool Help,
    bool Version)
{
    /// <summary>The usage text of <c>--help</c>.</summary>
    public static string Usage =>
        """
        Usage: tinychat [options]            run the server
               tinychat COMMAND [options]    administer its store (also while it runs)

        A self-hosted real-time chat server. Open http://HOST:PORT/ in a browser once it runs.

        Commands (each takes --config PATH and --data PATH like the server, and --help):
          users add NAME       create an account and print its access token (shown once)
          users list           every account: name, created, rooms joined
          users reset-token NAME
                               new token for the account; its open connections are closed
          users delete NAME    delete the account; its open connections are closed
          rooms list           every room: members, messages, last activity
          rooms delete NAME    delete a room with its memberships and history
          backup PATH          a consistent copy of the SQLite database, also while the server runs
          check                check the database's integrity
          migrate-storage --to "CONNECTION STRING"
                               copy the SQLite store into an empty PostgreSQL database

        Options:
          --config PATH        configuration file (default: chat.config.json next to the executable,
                               then in the working directory); relative paths in it are relative to its folder
          --static PATH        folder of the web client (Server:StaticRoot)
          --data PATH          folder of the database (Storage:DataDirectory)
          --port N             listen port, 0..65535; 0 picks a free one (Server:Port)
          --host HOST          listen host: localhost, an address, or * for every address (Server:Host)
          --Section:Key VALUE  any configuration key, e.g. --Limits:MessagesPerSecond 20
          -h, --help           print this help and exit
          --version            print the version and exit

        Every key can also be set with an environment variable TINYCHAT__Section__Key.
        The configuration keys are documented in README.md (section Configuration).
        """;

    /// <summary>The server's version (the assembly's informational version).</summary>
    public static string VersionText
    {
        get
        {
            var assembly = typeof(CommandLine).Assembly;
            var version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
                ?? assembly.GetName().Version?.ToString()
                ?? "unknown";
            return $"tinychat {version}";
        }
    }

    /// <summary>Parses the arguments; a <see cref="StartupException"/> names the first bad one.</summary>
    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        string? config = null, staticPath = null, data = null;
        var overrides = new List<KeyValuePair<string, string?>>();
        bool help = false, version = false;
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            switch (arg)
            {
                case "-h" or "--help" or "-?":
                    help = true;
                    continue;
                case "--version":
                    version = true;
                    continue;
                case "--config":
                    config = ValueOf(args, ref i, "PATH");
                    continue;
                case "--static":
                    staticPath = ValueOf(args, ref i, "PATH");
                    continue;
                case "--data":
                    data = ValueOf(args, ref i, "PATH");
                    continue;
                case "--port":
                    var port = ValueOf(args, ref i, "N");
                    if (!int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number > 65535)
                    {
                        throw new StartupException($"--port must be a whole number from 0 to 65535 (0 picks a free port), got '{port}'");
                    }

                    overrides.Add(new("Server:Port", port));
                    continue;
                case "--host":
                    overrides.Add(new("Server:Host", ValueOf(args, ref i, "HOST")));
                    continue;
            }

            if (arg.StartsWith("--", StringComparison.Ordinal) && arg.Contains(':', StringComparison.Ordinal))
            {
                // --Section:Key value, or --Section:Key=value.
                var equals = arg.IndexOf('=', StringComparison.Ordinal);
                if (equals > 0)
                {
                    overrides.Add(new(arg[2..equals], arg[(equals + 1)..]));
                }
                else
                {
                    overrides.Add(new(arg[2..], ValueOf(args, ref i, "VALUE")));
                }

                continue;
            }

            throw new StartupException($"unknown option '{arg}' (try --help)");
        }

        // A key given twice keeps its last value, as configuration sources do.
        var last = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (key, value) in overrides)
        {
            last.Remove(key);
            last[key] = value;
        }

        return new CommandLine(config, staticPath, data, [.. last], help, version);
    }

    private static string ValueOf(IReadOnlyList<string> args, ref int i, string what)
    {
        var option = args[i];
        if (i + 1 >= args.Count || (args[i + 1].StartsWith("--", StringComparison.Ordinal) && args[i + 1].Length > 2))
        {
            throw new StartupException($"{option} needs a value ({option} {what})");
        }

        return args[++i];
    }
}
