using TinyChat.Protocols.Irc;

namespace TinyChat.Tests.Irc;

/// <summary>Parsing client lines and fitting chat text into server lines.</summary>
[TestFixture]
public sealed class IrcLineTests
{
    [Test]
    public void A_line_has_tags_a_source_a_command_middle_parameters_and_a_trailing_one()
    {
        var line = IrcLine.Parse(@"@+typing=active;label=a\sb\:c :nick!u@h privmsg #room  :hello :world")!;
        Assert.That(line.Command, Is.EqualTo("PRIVMSG"));
        Assert.That(line.Parameters, Is.EqualTo(new[] { "#room", "hello :world" }));
        Assert.That(line.Tags["+typing"], Is.EqualTo("active"));
        Assert.That(line.Tags["label"], Is.EqualTo("a b;c"));
    }

    [TestCase("")]
    [TestCase("@tag=only")]
    [TestCase(":source")]
    public void A_line_without_a_command_is_nothing(string text) => Assert.That(IrcLine.Parse(text), Is.Null);

    [Test]
    public void An_empty_trailing_parameter_is_kept() =>
        Assert.That(IrcLine.Parse("PRIVMSG #room :")!.Parameters, Is.EqualTo(new[] { "#room", "" }));

    [Test]
    public void Text_is_split_at_line_breaks_and_at_the_line_limit_on_character_boundaries()
    {
        var head = ":someone!someone@host PRIVMSG #room :";
        var text = "first\r\nsecond " + string.Concat(Enumerable.Repeat("😀", 300));
        var pieces = IrcFormat.SplitText(head, text);
        Assert.That(pieces[0], Is.EqualTo("first"));
        Assert.That(string.Concat(pieces.Skip(1)), Is.EqualTo(text["first\r\n".Length..]));
        Assert.That(pieces.Select(p => System.Text.Encoding.UTF8.GetByteCount(head + p) + 2), Has.All.LessThanOrEqualTo(IrcFormat.MaxLineBytes));
    }

    [Test]
    public void A_parameter_never_carries_a_line_break() =>
        Assert.That(IrcFormat.Line("server", "NOTICE", "nick", "a\r\nQUIT"), Is.EqualTo(":server NOTICE nick :a  QUIT\r\n"));

    [TestCase("eva*", "evan", true)]
    [TestCase("E?AN", "evan", true)]
    [TestCase("*n", "evan", true)]
    [TestCase("ev", "evan", false)]
    public void Masks_match_case_insensitively(string mask, string value, bool matches) =>
        Assert.That(IrcChannels.Matches(mask, value), Is.EqualTo(matches));
}
