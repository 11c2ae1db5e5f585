using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using TinyChat.Hosting;
using TinyChat.Runtime;

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
        catch (Exception ex) when (StartupProblem(ex) is { } problem)
        {
            await Console.Error.WriteLineAsync($"tinychat: cannot start: {problem}").ConfigureAwait(false);
            return 2;
        }
    }

    /// <summary>The one-line reason for a start-up failure, or null when the exception is not one.</summary>
    public static string? StartupProblem(Exception ex) => ex switch
    {
        StartupException startup => startup.Message,
        OptionsValidationException validation => validation.Failures.First(),
        InvalidOperationException { Message: var m } when ConversionProblem(m) is { } conversion => conversion,
        InvalidOperationException { Message: var m } when m.Contains("configuration", StringComparison.OrdinalIgnoreCase) => m,
        AggregateException aggregate when aggregate.InnerExceptions.Count > 0 => StartupProblem(aggregate.InnerExceptions[0]),
        _ when ex.InnerException is not null => StartupProblem(ex.InnerException),
        _ => null,
    };

    // The binder's "Failed to convert configuration value 'abc' at 'Server:Port' to type 'System.Int32'." in words an operator can act on.
    private static string? ConversionProblem(string message)
    {
        var match = System.Text.RegularExpressions.Regex.Match(message, @"^Failed to convert configuration value '(?<value>.*)' at '(?<key>[^']+)' to type '(?<type>[^']+)'");
        if (!match.Success)
        {
            return null;
        }

        var kind = match.Groups["type"].Value switch
        {
            "System.Int32" or "System.Int64" => "a whole number",
            "System.Double" or "System.Single" or "System.Decimal" => "a number",
            "System.Boolean" => "true or false",
            var other => "a value of type " + other,
        };
        return $"{match.Groups["key"].Value} must be {kind}, got '{match.Groups["value"].Value}'";
    }
}
