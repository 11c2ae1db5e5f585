using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using TinyChat.Storage;
using TinyChat.Storage.Sqlite;

namespace TinyChat.Tests.Storage;

/// <summary>
/// The SQLite writer on its own thread: it is not a pool worker, it wakes for every write however the write meets
/// it (idle, busy, full queue), and it ends when the store closes. Over a real file in a temp folder.
/// </summary>
[TestFixture]
public sealed class StorageWriterTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);
    private string directory = null!;
    private string path = null!;
    private StorageAvailability availability = null!;
    private StorageWriter writer = null!;

    [SetUp]
    public void Open()
    {
        directory = Path.Combine(Path.GetTempPath(), "tinychat-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        path = Path.Combine(directory, SqliteStoreSettings.FileName);
        var connection = new SqliteConnection($"Data Source={path};Pooling=False");
        connection.Open();
        Execute(connection, "PRAGMA journal_mode = WAL");

        // These tests count wake-ups, not fsyncs.
        Execute(connection, "PRAGMA synchronous = NORMAL");
        SqliteSchema.Migrate(connection, SqliteSchema.CheckVersion(connection, path));
        availability = new StorageAvailability(StorageOptions.Sqlite, path, _ => Task.CompletedTask, TimeProvider.System, NullLogger.Instance, StorageOutageKind.Unwritable);
        writer = new StorageWriter(connection, NullLogger.Instance, availability);
    }

    [TearDown]
    public async Task Close()
    {
        using var stuck = new CancellationTokenSource(Timeout);
        await writer.CloseAsync(stuck.Token);
        await availability.DisposeAsync();
        Directory.Delete(directory, recursive: true);
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private async Task<Thread> WritersThreadAsync() =>
        await writer.WriteAsync(_ => Thread.CurrentThread, CancellationToken.None).WaitAsync(Timeout);

    // Blocks the writer's thread inside a write until the returned gate is set (or the timeout passes).
    private async Task<(Task<int> Write, ManualResetEventSlim Gate)> HoldTheWriterAsync()
    {
        var gate = new ManualResetEventSlim();
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var write = writer.WriteAsync(
            _ =>
            {
                entered.TrySetResult();
                gate.Wait(Timeout);
                return -1;
            },
            CancellationToken.None);
        await entered.Task.WaitAsync(Timeout);
        return (write, gate);
    }

    [Test]
    public async Task The_writer_runs_on_a_named_background_thread_of_its_own_outside_the_thread_pool()
    {
        var first = await WritersThreadAsync();
        Assert.Multiple(() =>
        {
            Assert.That(first.IsThreadPoolThread, Is.False);
            Assert.That(first.IsBackground, Is.True, "a writer must not keep the process alive");
            Assert.That(first.Name, Is.EqualTo("tinychat-store-writer"));
        });
        Assert.That(await WritersThreadAsync(), Is.SameAs(first));
    }

    [Test]
    public async Task Only_a_write_queued_to_resume_on_the_writers_thread_runs_its_caller_there_and_the_writer_commits_again_after_it()
    {
        var writersThread = await WritersThreadAsync();

        // Both writes wait behind a held one, so each continuation is attached before its commit.
        var (held, gate) = await HoldTheWriterAsync();
        var onWriter = await writer.QueueAsync(_ => 1, after: null, CancellationToken.None, onWriterThread: true);
        var onPool = await writer.QueueAsync(_ => 2, after: null, CancellationToken.None);
        var resumedOnWriter = onWriter.ContinueWith(_ => Thread.CurrentThread, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        var resumedOnPool = onPool.ContinueWith(_ => Thread.CurrentThread, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        gate.Set();
        await held.WaitAsync(Timeout);

        Assert.That(await resumedOnWriter.WaitAsync(Timeout), Is.SameAs(writersThread), "resumed right after the commit, on the writer's thread");
        Assert.That(await resumedOnPool.WaitAsync(Timeout), Is.Not.SameAs(writersThread), "everyone else is resumed off the writer's thread");
        Assert.That((await onWriter, await onPool), Is.EqualTo((1, 2)));
        Assert.That(await writer.WriteAsync(_ => 3, CancellationToken.None).WaitAsync(Timeout), Is.EqualTo(3), "the writer carries on once its caller has left");
    }

    [Test]
    public async Task A_write_queued_just_after_the_writer_went_idle_is_committed()
    {
        // One write at a time, each queued as soon as the one before committed: it meets the writer between its last
        // look at the queue and its sleep, or asleep. A lost wake-up leaves a round waiting for its timeout.
        for (var i = 0; i < 2000; i++)
        {
            var round = i;
            Assert.That(await writer.WriteAsync(_ => round, CancellationToken.None).WaitAsync(Timeout), Is.EqualTo(round));
        }

        Assert.That(writer.Transactions, Is.EqualTo(2000));
    }

    [Test]
    public void A_write_queued_at_any_moment_of_the_writers_round_is_committed()
    {
        // The next write is queued from a thread outside the pool a varying few microseconds after the writer began
        // applying the one before, so over the rounds it arrives during the commit, during the look at the queue and
        // as the writer goes to sleep. A lost wake-up shows as a round whose write is never applied. The window of
        // a misplaced reset is nanoseconds wide: the rounds stop at a count or a few seconds, whichever comes first.
        const int rounds = 20_000;
        var budget = TimeSpan.FromSeconds(5);
        var applied = -1;
        var jitter = new Random(16);
        var elapsed = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < rounds && elapsed.Elapsed < budget; i++)
        {
            var round = i;
            _ = writer.WriteAsync(_ => Interlocked.Exchange(ref applied, round), CancellationToken.None);
            var waited = System.Diagnostics.Stopwatch.StartNew();
            while (Volatile.Read(ref applied) != round)
            {
                Assert.That(waited.Elapsed, Is.LessThan(Timeout), $"round {round} was never applied");
                Thread.SpinWait(1);
            }

            Thread.SpinWait(jitter.Next(0, 2000));
        }
    }

    [Test]
    public async Task Eight_writers_at_once_all_commit_and_each_keeps_its_order()
    {
        const int writers = 8;
        const int perWriter = 500;

        // Each writer queues a few writes, then waits for the last: the writer is by turns busy, idle and woken.
        var runs = Enumerable.Range(0, writers).Select(w => Task.Run(async () =>
        {
            var ids = new List<Task<long>>(perWriter);
            for (var i = 0; i < perWriter; i++)
            {
                var text = $"{i}";
                ids.Add(writer.WriteAsync(s => s.AppendPrivateMessage($"writer{w}", "reader", text, 0), CancellationToken.None));
                if (i % 5 == w % 5)
                {
                    await ids[^1].WaitAsync(Timeout);
                }
            }

            return await Task.WhenAll(ids).WaitAsync(Timeout);
        })).ToList();

        var all = await Task.WhenAll(runs).WaitAsync(Timeout * 2);
        Assert.That(all.SelectMany(ids => ids).ToList(), Is.Unique.And.Count.EqualTo(writers * perWriter));
        Assert.That(all, Has.All.Matches<long[]>(ids => ids.SequenceEqual(ids.Order())), "a writer's ids increase");

        await using var reading = new SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        await reading.OpenAsync();
        await using var command = reading.CreateCommand();
        command.CommandText = "SELECT sender, body FROM private_messages ORDER BY id";
        var stored = new Dictionary<string, List<string>>();
        await using (var rows = await command.ExecuteReaderAsync())
        {
            while (await rows.ReadAsync())
            {
                var sender = rows.GetString(0);
                (stored.TryGetValue(sender, out var texts) ? texts : stored[sender] = []).Add(rows.GetString(1));
            }
        }

        var expected = Enumerable.Range(0, perWriter).Select(i => $"{i}").ToList();
        Assert.That(stored.Keys, Is.EquivalentTo(Enumerable.Range(0, writers).Select(w => $"writer{w}")));
        Assert.That(stored.Values, Has.All.EqualTo(expected), "each writer's messages stored in the order it queued them");
    }

    [Test]
    public async Task Writes_that_waited_for_room_in_a_full_queue_still_commit_in_order()
    {
        var (held, gate) = await HoldTheWriterAsync();
        using (gate)
        {
            var applied = new List<int>();
            int Record(int i)
            {
                // Only the writer's thread runs this, one write after the other.
                applied.Add(i);
                return i;
            }

            var queued = Enumerable.Range(0, StorageWriter.QueueCapacity).Select(i => writer.WriteAsync(_ => Record(i), CancellationToken.None)).ToList();
            var waiting = Enumerable.Range(StorageWriter.QueueCapacity, 100)
                .Select(i => writer.QueueAsync(_ => Record(i), after: null, CancellationToken.None))
                .ToList();
            Assert.That(waiting, Has.None.Matches<Task>(t => t.IsCompleted), "the queue was full");

            gate.Set();
            Assert.That(await held.WaitAsync(Timeout), Is.EqualTo(-1));
            var late = await Task.WhenAll(waiting).WaitAsync(Timeout);
            Assert.That(await Task.WhenAll(late).WaitAsync(Timeout), Is.EqualTo(Enumerable.Range(StorageWriter.QueueCapacity, 100)));
            Assert.That(await Task.WhenAll(queued).WaitAsync(Timeout), Is.EqualTo(Enumerable.Range(0, StorageWriter.QueueCapacity)));
            Assert.That(applied, Is.EqualTo(Enumerable.Range(0, StorageWriter.QueueCapacity + 100)));
        }
    }

    [Test]
    public async Task Closing_an_idle_writer_ends_its_thread()
    {
        var thread = await WritersThreadAsync();

        await writer.CloseAsync(CancellationToken.None).WaitAsync(Timeout);
        Assert.That(thread.Join(Timeout), Is.True, "the thread ended");
        Assert.That(writer.Completion.IsCompletedSuccessfully, Is.True);
        Assert.ThrowsAsync<ObjectDisposedException>(async () => await writer.WriteAsync(_ => 0, CancellationToken.None));
    }

    [Test]
    public async Task A_close_that_gives_up_fails_what_is_still_queued_and_ends_the_thread()
    {
        var thread = await WritersThreadAsync();
        var (held, gate) = await HoldTheWriterAsync();
        using (gate)
        {
            var left = Enumerable.Range(0, 10).Select(i => writer.WriteAsync(_ => i, CancellationToken.None)).ToList();
            using var gaveUp = new CancellationTokenSource();
            await gaveUp.CancelAsync();
            var closing = writer.CloseAsync(gaveUp.Token);

            gate.Set();
            await closing.WaitAsync(Timeout);
            Assert.That(await held.WaitAsync(Timeout), Is.EqualTo(-1), "the write being applied was finished");
            foreach (var write in left)
            {
                Assert.ThrowsAsync<ObjectDisposedException>(async () => await write.WaitAsync(Timeout));
            }

            Assert.That(thread.Join(Timeout), Is.True, "the thread ended");
        }
    }
}
