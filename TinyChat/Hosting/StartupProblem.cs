using Microsoft.Extensions.Options;
using TinyChat.Runtime;

namespace TinyChat.Hosting;

/// <summary>What stops the server or an admin command from starting, in one line an operator can act on.</summary>
public static class StartupProblem
{
    /// <summary>The one-line reason for a start-up failure, or null when the exception is not one.</summary>
    public static string? Of(Exception ex) => ex switch
    {
        StartupException startup => startup.Message,
        OptionsValidationException validation => validation.Failures.First(),
        InvalidOperationException { Message: var m } when ConversionProblem(m) is { } conversion => conversion,
        InvalidOperationException { Message: var m } when m.Contains("configuration", StringComparison.OrdinalIgnoreCase) => m,
        AggregateException aggregate when aggregate.InnerExceptions.Count > 0 => Of(aggregate.InnerExceptions[0]),
        _ when ex.InnerException is not null => Of(ex.InnerException),
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
