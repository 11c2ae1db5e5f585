using TinyChat.Hosting;
using TinyChat.Runtime;

namespace TinyChat.Tests.Hosting;

public sealed class CommandLineParseTests
{
    [Test]
    public void Shortcuts_and_keys_become_configuration_overrides_and_the_last_value_of_a_key_wins()
    {
        var line = CommandLine.Parse(["--port", "0", "--host", "127.0.0.1", "--server:port", "4001", "--Limits:MessagesPerSecond=20", "--data", "d"]);

        Assert.That(line.Overrides, Is.EquivalentTo(new KeyValuePair<string, string?>[]
        {
            new("Server:Host", "127.0.0.1"),
            new("server:port", "4001"),
            new("Limits:MessagesPerSecond", "20"),
        }));
        Assert.That(line.DataPath, Is.EqualTo("d"));
        Assert.That(line.Help || line.Version, Is.False);
    }

    [TestCase(new[] { "--config" }, "--config needs a value")]
    [TestCase(new[] { "--port", "--host", "x" }, "--port needs a value")]
    [TestCase(new[] { "--port", "-1" }, "--port must be a whole number")]
    [TestCase(new[] { "serve" }, "unknown option 'serve'")]
    public void A_bad_argument_is_named(string[] args, string expected)
    {
        Assert.That(() => CommandLine.Parse(args), Throws.TypeOf<StartupException>().With.Message.Contains(expected));
    }
}
