using Microsoft.Extensions.Logging.Abstractions;
using NSubstitute;
using TinyChat.Chat;
using TinyChat.Hosting;
using TinyChat.Tests.Chat;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Hosting;

/// <summary>The watch that applies administrators' changes, over a store double that is away at first.</summary>
public sealed class AdminChangeWatchTests
{
    private static readonly CancellationToken None = CancellationToken.None;

    [Test]
    public async Task A_watch_started_during_an_outage_starts_and_applies_what_is_recorded_after_the_store_first_answers()
    {
        await using var core = await ChatCore.StartAsync(null, "foo_user");
        var (_, foo) = await core.ConnectAsync("foo_user");
        var store = Substitute.For<IAdminStore>();
        store.LastChangeAsync(Arg.Any<CancellationToken>()).Returns(
            _ => throw new StoreUnavailableException("storage unavailable: the database is down"),
            _ => new ValueTask<long>(5));
        store.ChangesAfterAsync(5, Arg.Any<int>(), Arg.Any<CancellationToken>())
            .Returns(new ValueTask<IReadOnlyList<AdminChange>>([new AdminChange(6, AdminChangeKind.TokenReset, "foo_user")]));
        store.ChangesAfterAsync(6, Arg.Any<int>(), Arg.Any<CancellationToken>())
            .Returns(new ValueTask<IReadOnlyList<AdminChange>>([]));
        var watch = new AdminChangeWatch(store, core.Server, new ManualClock(), NullLogger<AdminChangeWatch>.Instance);

        await watch.StartAsync(None);
        try
        {
            Assert.That(await watch.ApplyNewChangesAsync(None), Is.Zero, "the first answer only sets where to start");
            await store.DidNotReceiveWithAnyArgs().ChangesAfterAsync(default, default, default);
            Assert.That(await watch.ApplyNewChangesAsync(None), Is.EqualTo(1));
            Assert.That(() => foo.DisconnectReason, Is.EqualTo("access token reset by an administrator").After(5000, 10));
            Assert.That(await watch.ApplyNewChangesAsync(None), Is.Zero);
        }
        finally
        {
            await watch.StopAsync(None);
        }
    }
}
