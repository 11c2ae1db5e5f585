using Microsoft.Extensions.Hosting;
using TinyChat.Hosting;

namespace TinyChat;

/// <summary>Entry point: runs the host; a start-up problem is one line on stderr and exit code 2.</summary>
public static class Program
{
    /// <summary>Runs TinyChat until Ctrl+C or SIGTERM.</summary>
    public static async Task<int> Main(string[] args)
    {
        if (AdminCommandLine.Handles(args))
        {
            return await AdminCommandLine.RunAsync(args, Console.Out, Console.Error, CancellationToken.None).ConfigureAwait(false);
        }

        try
        {
            var commandLine = CommandLine.Parse(args);
            if (commandLine.Help || commandLine.Version)
            {
                await Console.Out.WriteLineAsync(commandLine.Help ? CommandLine.Usage : CommandLine.VersionText).ConfigureAwait(false);
                return 0;
            }

            using var host = TinyChatHost.Build(args);
            TinyChatHost.ValidateConfiguration(host.Services);
            await host.RunAsync().ConfigureAwait(false);
            return Environment.ExitCode;
        }
        catch (Exception ex) when (StartupProblem.Of(ex) is { } problem)
        {
            await Console.Error.WriteLineAsync($"tinychat: cannot start: {problem}").ConfigureAwait(false);
            return 2;
        }
    }
}
