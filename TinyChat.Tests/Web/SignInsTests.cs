using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TinyChat.Chat;
using TinyChat.Tests.Chat;
using TinyChat.Tests.Support;
using TinyChat.Web;

namespace TinyChat.Tests.Web;

/// <summary>The per-address limit on failed sign-ins (issue 17, item 3), on a manual clock.</summary>
[TestFixture]
public sealed class SignInsTests
{
    private static readonly IPAddress Guesser = IPAddress.Parse("203.0.113.7");
    private static readonly IPAddress Neighbour = IPAddress.Parse("203.0.113.8");
    private ManualClock clock = null!;
    private ChatCore core = null!;
    private LogCapture logs = null!;
    private ILoggerFactory loggers = null!;

    [SetUp]
    public async Task Start()
    {
        clock = new ManualClock();
        core = await ChatCore.StartAsync(clock, new ChatLimits(4000, 64, 64), "foo");
        logs = new LogCapture();
        loggers = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
    }

    [TearDown]
    public async Task Stop()
    {
        loggers.Dispose();
        await core.DisposeAsync();
    }

    private SignIns Limit(int perMinute) => new(
        core.Server,
        Options.Create(new LimitsOptions { FailedSignInsPerMinutePerAddress = perMinute }),
        clock,
        loggers.CreateLogger<SignIns>());

    private static async Task<string?> TryAsync(SignIns signIns, IPAddress? address, string? token)
    {
        var admitted = await signIns.AdmitAsync(address, token, CancellationToken.None);
        if (admitted.Value is { } admission)
        {
            await admission.DisposeAsync();
            return null;
        }

        return admitted.Error!.Code;
    }

    [Test]
    public async Task After_the_limit_of_invalid_tokens_even_a_valid_one_is_refused_until_the_minute_is_over()
    {
        var signIns = Limit(3);
        for (var i = 0; i < 3; i++)
        {
            Assert.That(await TryAsync(signIns, Guesser, $"guess-{i}"), Is.EqualTo("invalid_token"));
        }

        Assert.That(await TryAsync(signIns, Guesser, "guess-3"), Is.EqualTo(SignIns.Code));
        Assert.That(await TryAsync(signIns, Guesser, "foo_token"), Is.EqualTo(SignIns.Code));

        clock.Advance(TimeSpan.FromSeconds(59));
        Assert.That(await TryAsync(signIns, Guesser, "foo_token"), Is.EqualTo(SignIns.Code));

        clock.Advance(TimeSpan.FromSeconds(1));
        Assert.That(await TryAsync(signIns, Guesser, "foo_token"), Is.Null, "a new window starts with a clean slate");
        Assert.That(await TryAsync(signIns, Guesser, "guess-4"), Is.EqualTo("invalid_token"));
    }

    [Test]
    public async Task Other_addresses_valid_sign_ins_and_missing_tokens_do_not_count()
    {
        var signIns = Limit(2);
        for (var i = 0; i < 5; i++)
        {
            Assert.That(await TryAsync(signIns, Guesser, "foo_token"), Is.Null);
            Assert.That(await TryAsync(signIns, Guesser, null), Is.EqualTo("missing_token"));
        }

        Assert.That(await TryAsync(signIns, Guesser, "guess-1"), Is.EqualTo("invalid_token"));
        Assert.That(await TryAsync(signIns, Guesser, "guess-2"), Is.EqualTo("invalid_token"));
        Assert.That(await TryAsync(signIns, Guesser, "foo_token"), Is.EqualTo(SignIns.Code));
        Assert.That(await TryAsync(signIns, Neighbour, "foo_token"), Is.Null, "only the guessing address is refused");
        Assert.That(await TryAsync(signIns, Neighbour, "guess-3"), Is.EqualTo("invalid_token"));
    }

    [Test]
    public async Task Zero_turns_the_limit_off_and_an_unknown_address_is_never_limited()
    {
        var off = Limit(0);
        var on = Limit(1);
        for (var i = 0; i < 20; i++)
        {
            Assert.That(await TryAsync(off, Guesser, $"guess-{i}"), Is.EqualTo("invalid_token"));
            Assert.That(await TryAsync(on, null, $"guess-{i}"), Is.EqualTo("invalid_token"));
        }

        Assert.That(await TryAsync(off, Guesser, "foo_token"), Is.Null);
        Assert.That(on.TrackedAddresses, Is.Zero);
    }

    [Test]
    public async Task The_refusal_is_logged_once_per_address_and_window_with_the_address_and_never_the_token()
    {
        var signIns = Limit(2);
        for (var window = 0; window < 2; window++)
        {
            for (var i = 0; i < 10; i++)
            {
                await TryAsync(signIns, Guesser, $"secret-guess-{window}-{i}");
            }

            await TryAsync(signIns, Guesser, "foo_token");
            clock.Advance(TimeSpan.FromMinutes(1));
        }

        var refusals = logs.Lines.Where(l => l.Contains("Refusing sign-ins", StringComparison.Ordinal)).ToList();
        Assert.That(refusals, Has.Count.EqualTo(2), string.Join("\n", logs.Lines));
        Assert.That(refusals, Has.All.Contains("Address=203.0.113.7").And.All.StartsWith("Warning"));
        Assert.That(logs.Lines, Has.None.Contains("secret-guess").And.None.Contains("foo_token"));
    }

    [Test]
    public async Task Addresses_whose_window_ended_are_forgotten_so_the_table_stays_bounded()
    {
        var signIns = Limit(5);
        for (var i = 0; i < 100; i++)
        {
            await TryAsync(signIns, IPAddress.Parse($"198.51.100.{i}"), "guess");
        }

        Assert.That(signIns.TrackedAddresses, Is.EqualTo(100));
        clock.Advance(TimeSpan.FromMinutes(2));
        await TryAsync(signIns, Guesser, "guess");
        Assert.That(signIns.TrackedAddresses, Is.EqualTo(1));
    }
}
