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
        try
        {
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
        InvalidOperationException { Message: var m } when m.Contains("configuration", StringComparison.OrdinalIgnoreCase) => m,
        AggregateException aggregate when aggregate.InnerExceptions.Count > 0 => StartupProblem(aggregate.InnerExceptions[0]),
        _ when ex.InnerException is not null => StartupProblem(ex.InnerException),
        _ => null,
    };
}
