using TinyChat.Hosting;

namespace TinyChat.Tests.Admin;

/// <summary>One run of an admin command, in this process, with what it printed.</summary>
public sealed record AdminRun(int ExitCode, string Output, string Error)
{
    /// <summary>The output's lines.</summary>
    public string[] Lines => Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Runs <c>tinychat ARGS</c>' admin command as the binary would, capturing stdout and stderr.</summary>
    public static async Task<AdminRun> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        Assert.That(AdminCommandLine.Handles(args), Is.True, "an admin command");
        var code = await AdminCommandLine.RunAsync(args, output, error, timeout.Token);
        return new AdminRun(code, output.ToString(), error.ToString());
    }

    /// <inheritdoc />
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{Output}\nstderr:\n{Error}";
}
