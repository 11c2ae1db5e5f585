using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging;
using TinyChat.Chat;
using TinyChat.Storage;
using TinyChat.Storage.Sqlite;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Storage;

/// <summary>
/// The SQLite store on a real file that runs out of room (SQLite's page limit, which fails a write exactly as a full
/// disk does: SQLITE_FULL): writes are refused as an outage logged once, reads go on, a write goes through as soon
/// as it fits again, and the probe ends the outage once the file can grow.
/// </summary>
[TestFixture]
public sealed class SqliteFullDiskTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(30);
    private static readonly CancellationToken None = CancellationToken.None;
    private LogCapture logs = null!;
    private ILoggerFactory factory = null!;
    private string directory = null!;
    private SqliteStore store = null!;

    private string DatabasePath => Path.Combine(directory, "data", SqliteStoreSettings.FileName);

    [SetUp]
    public async Task OpenStore()
    {
        directory = Path.Combine(Path.GetTempPath(), "tinychat-tests", Guid.NewGuid().ToString("N"));
        logs = new LogCapture();
        factory = LoggerFactory.Create(b => b.AddProvider(logs).SetMinimumLevel(LogLevel.Debug));
        store = await OpenAsync();
        IRoomStore rooms = store;
        await rooms.TryCreateAsync("lobby", None);
    }

    [TearDown]
    public async Task RemoveFolder()
    {
        await store.CloseAsync(None);
        factory.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(directory, recursive: true);
    }

    private async Task<SqliteStore> OpenAsync()
    {
        var opened = new SqliteStore(new SqliteStoreSettings(DatabasePath, SqliteSynchronous.Full, RetentionPolicy.Unlimited), TimeProvider.System, factory.CreateLogger<SqliteStore>());
        await opened.OpenAsync(None);
        return opened;
    }

    private int Count(string text) => logs.Lines.Count(line => line.Contains(text, StringComparison.Ordinal));

    // The outage's warnings, not the probe's Debug lines, which repeat the cause each time the file is still full.
    private int Warnings(string text) => logs.Lines.Count(line => line.StartsWith("Warning ", StringComparison.Ordinal) && line.Contains(text, StringComparison.Ordinal));

    private static NewRoomMessage Post(string text) => new("foo_user", text + new string('.', 1500), DateTimeOffset.UtcNow);

    /// <summary>Caps the file where it is and posts until a post is refused; returns what was stored and the refusal.</summary>
    private async Task<(List<(long Id, string Text)> Stored, StoreUnavailableException Refusal)> FillAsync()
    {
        await store.LimitPagesAsync(await store.PageCountAsync(None), None);
        var stored = new List<(long, string)>();
        for (var i = 0; i < 1000; i++)
        {
            var text = $"fill {i}";
            try
            {
                stored.Add((await store.AppendRoomMessagesAsync("lobby", [Post(text)], None), text));
            }
            catch (StoreUnavailableException refused)
            {
                return (stored, refused);
            }
        }

        throw new AssertionException("a thousand 1.5 KB posts fitted under the page limit");
    }

    [Test]
    public async Task A_full_file_refuses_writes_as_one_outage_keeps_reads_and_the_next_write_that_fits_ends_it()
    {
        var (stored, refusal) = await FillAsync();

        Assert.That(refusal.Message, Does.Contain(DatabasePath).And.Contain("cannot be written").And.Contain("full"));
        Assert.That(refusal.Cause, Is.EqualTo("the disk is full"));
        Assert.That(store.Current.Available, Is.False);
        Assert.That(store.Current.Problem, Does.Contain("full"));
        Assert.That(store.Current.Since, Is.Not.Null);

        // A group of concurrent writes fails together, every one of them told why, none retried alone.
        var refused = await Task.WhenAll(Enumerable.Range(0, 50).Select(async i =>
        {
            try
            {
                await store.AppendRoomMessagesAsync("lobby", [Post($"refused {i}")], None);
                return false;
            }
            catch (StoreUnavailableException)
            {
                return true;
            }
        }));
        Assert.That(refused, Is.All.True);

        // Reads go on: history, authentication, memberships.
        var history = await store.RoomHistoryAsync("lobby", new HistoryQuery(null, null, 1000), None);
        Assert.That(history.Select(m => m.Id), Is.EqualTo(stored.Select(s => s.Id)));
        IRoomStore rooms = store;
        Assert.That(await rooms.ExistsAsync("lobby", None), Is.True);

        await store.LimitPagesAsync(1_000_000, None);
        var after = await store.AppendRoomMessagesAsync("lobby", [Post("after")], None);
        Assert.That(after, Is.EqualTo(stored[^1].Id + 1), "refused posts took no id");
        await store.Availability.Recovering.WaitAsync(Timeout);
        Assert.That(store.Current.Available, Is.True);

        Assert.That(Warnings("cannot be written"), Is.EqualTo(1), string.Join("\n", logs.Lines));
        Assert.That(Count("is writable again"), Is.EqualTo(1), string.Join("\n", logs.Lines));
        Assert.That(logs.Lines, Has.Some.Contains("writes were refused meanwhile"));
        Assert.That(Count("rolled back"), Is.Zero, "no warning per refused write");

        // What was acknowledged is in the file, what was refused is not.
        await store.CloseAsync(None);
        store = await OpenAsync();
        var reopened = await store.RoomHistoryAsync("lobby", new HistoryQuery(null, null, 1000), None);
        Assert.That(reopened.Select(m => (m.Id, m.Text[..m.Text.IndexOf('.', StringComparison.Ordinal)])), Is.EqualTo(stored.Append((after, "after"))));
    }

    [Test]
    public async Task Without_writes_the_probe_ends_the_outage_once_the_file_can_grow_again()
    {
        await FillAsync();
        Assert.That(store.Current.Available, Is.False);

        await store.LimitPagesAsync(1_000_000, None);
        await store.Availability.Recovering.WaitAsync(Timeout);

        Assert.That(store.Current.Available, Is.True);
        Assert.That(Count("is writable again"), Is.EqualTo(1), string.Join("\n", logs.Lines));
        IRoomStore rooms = store;
        Assert.That(await rooms.MembersAsync("lobby", None), Is.Empty, "the probe leaves nothing behind");
        Assert.That(await store.AppendRoomMessagesAsync("lobby", [Post("after")], None), Is.GreaterThan(0));
    }

    [Test]
    public async Task While_the_file_is_still_full_the_probe_is_refused_like_a_post_and_the_outage_goes_on()
    {
        await FillAsync();

        for (var i = 0; i < 3; i++)
        {
            Assert.CatchAsync<StoreUnavailableException>(async () => await store.ProbeAsync(None));
        }

        Assert.That(store.Current.Available, Is.False);
        Assert.That(Warnings("cannot be written"), Is.EqualTo(1));
        Assert.That(Count("is writable again"), Is.Zero);

        await store.LimitPagesAsync(1_000_000, None);
        await store.ProbeAsync(None);
        await store.Availability.Recovering.WaitAsync(Timeout);
        Assert.That(store.Current.Available, Is.True);
    }
}
