using Microsoft.Extensions.Logging.Abstractions;
using NSubstitute;
using TinyChat.Runtime;

namespace TinyChat.Tests.Runtime;

/// <summary>Process tests: real loops under a real supervisor, observed through probes.</summary>
public sealed class SupervisorTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    private static async Task<(int Value, int Starts)> EchoAsync(ProbeProcess process, int value)
    {
        var echo = new Echo(value);
        return await process.AskAsync(echo, echo.Reply, CancellationToken.None).WaitAsync(Timeout);
    }

    [Test]
    public async Task A_faulting_child_is_restarted_and_keeps_serving()
    {
        var probe = new SupervisionProbe();
        var supervisor = new Supervisor("test", new RestartPolicy(3, TimeSpan.FromSeconds(10)), NullLogger.Instance, observer: probe);
        var child = new ProbeProcess("child");
        supervisor.AddChild(child);
        using var stop = new CancellationTokenSource();
        var running = supervisor.RunAsync(stop.Token);

        Assert.That((await EchoAsync(child, 1)).Starts, Is.EqualTo(1));
        var crash = new Crash("boom");
        Assert.ThrowsAsync<InvalidOperationException>(async () => await child.AskAsync(crash, crash.Reply, CancellationToken.None).WaitAsync(Timeout));

        var after = await EchoAsync(child, 2);
        Assert.That(after, Is.EqualTo((2, 2)), "served by the second incarnation");
        Assert.That(supervisor.Statistics.TotalRestarts, Is.EqualTo(1));
        Assert.That(probe.Events, Does.Contain("restarted test/child"));

        await stop.CancelAsync();
        await running.WaitAsync(Timeout);
    }

    [Test]
    public async Task Messages_posted_while_a_child_restarts_are_delivered_after_the_restart()
    {
        var supervisor = new Supervisor("test", new RestartPolicy(3, TimeSpan.FromSeconds(10)), NullLogger.Instance);
        var child = new ProbeProcess("child");
        supervisor.AddChild(child);
        using var stop = new CancellationTokenSource();
        var running = supervisor.RunAsync(stop.Token);

        // Queue a crash and five echoes behind a held message, so they all sit in the mailbox when the loop dies.
        var hold = new Hold(new(TaskCreationOptions.RunContinuationsAsynchronously), new(TaskCreationOptions.RunContinuationsAsynchronously));
        Assert.That(child.TryPost(hold), Is.EqualTo(PostResult.Accepted));
        await hold.Entered.Task.WaitAsync(Timeout);
        var crash = new Crash("boom");
        child.TryPost(crash);
        var echoes = Enumerable.Range(1, 5).Select(i => new Echo(i)).ToList();
        foreach (var echo in echoes)
        {
            Assert.That(child.TryPost(echo), Is.EqualTo(PostResult.Accepted));
        }

        hold.Release.SetResult();
        Assert.ThrowsAsync<InvalidOperationException>(async () => await crash.Reply.Task.WaitAsync(Timeout));
        for (var i = 0; i < echoes.Count; i++)
        {
            Assert.That(await echoes[i].Reply.Task.WaitAsync(Timeout), Is.EqualTo((i + 1, 2)));
        }

        await stop.CancelAsync();
        await running.WaitAsync(Timeout);
    }

    [Test]
    public async Task Exceeding_the_restart_intensity_escalates_and_the_supervisor_fails()
    {
        var observer = Substitute.For<ISupervisionObserver>();
        var supervisor = new Supervisor("test", new RestartPolicy(2, TimeSpan.FromMinutes(1)), NullLogger.Instance, observer: observer);
        var child = new ProbeProcess("child");
        supervisor.AddChild(child);
        var running = supervisor.RunAsync(CancellationToken.None);

        for (var i = 0; i < 3; i++)
        {
            var crash = new Crash($"boom {i}");
            child.TryPost(crash);
            Assert.ThrowsAsync<InvalidOperationException>(async () => await crash.Reply.Task.WaitAsync(Timeout));
        }

        var failure = Assert.ThrowsAsync<SupervisorEscalatedException>(async () => await running.WaitAsync(Timeout));
        Assert.That(failure!.Message, Does.Contain("child"));
        observer.Received(2).ChildRestarted("test", "child", Arg.Any<Exception>());
        observer.Received(1).Escalated("test", Arg.Any<Exception>());
        Assert.That(await child.Ended.WaitAsync(Timeout), Is.InstanceOf<InvalidOperationException>());
        Assert.That(child.TryPost(new Echo(1)), Is.EqualTo(PostResult.Stopped), "a terminated process refuses posts");
    }

    [Test]
    public async Task A_nested_supervisor_that_escalates_is_restarted_by_its_parent()
    {
        var probe = new SupervisionProbe();
        var policy = new RestartPolicy(1, TimeSpan.FromMinutes(1));
        var parent = new Supervisor("parent", new RestartPolicy(3, TimeSpan.FromMinutes(1)), NullLogger.Instance, observer: probe);
        var nested = new Supervisor("nested", policy, NullLogger.Instance, observer: probe);
        var child = new ProbeProcess("child");
        nested.AddChild(child);
        parent.AddChild(nested);
        using var stop = new CancellationTokenSource();
        var running = parent.RunAsync(stop.Token);

        for (var i = 0; i < 2; i++)
        {
            var crash = new Crash("boom");
            child.TryPost(crash);
            Assert.ThrowsAsync<InvalidOperationException>(async () => await crash.Reply.Task.WaitAsync(Timeout));
        }

        await probe.Escalation.WaitAsync(Timeout);
        Assert.That(probe.Events, Does.Contain("escalated nested"));

        // The parent runs the nested supervisor again, which starts its static child again (a third start).
        await child.WhenStarted(3).WaitAsync(Timeout);
        var after = await EchoAsync(child, 7);
        Assert.That(after.Value, Is.EqualTo(7));
        Assert.That(probe.Events, Does.Contain("restarted parent/nested"));

        await stop.CancelAsync();
        await running.WaitAsync(Timeout);
    }

    [Test]
    public async Task A_transient_child_that_ends_normally_is_not_restarted_and_releases_its_name()
    {
        var supervisor = new Supervisor("test", RestartPolicy.Default, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        var running = supervisor.RunAsync(stop.Token);
        await supervisor.Started.WaitAsync(Timeout);

        var registry = new Registry<string, ProbeProcess>();
        var child = new ProbeProcess("child");
        Assert.That(registry.TryRegister("alice", child), Is.True);
        _ = child.Ended.ContinueWith(_ => registry.Unregister("alice", child), TaskScheduler.Default);
        Assert.That(supervisor.TryStartChild(child, RestartKind.Transient), Is.True);

        child.TryPost(new Quit());
        Assert.That(await child.Ended.WaitAsync(Timeout), Is.Null);
        await WaitUntilAsync(() => registry.Count == 0);
        Assert.That(registry.TryLookup("alice", out _), Is.False);
        Assert.That(child.Starts, Is.EqualTo(1));

        await stop.CancelAsync();
        await running.WaitAsync(Timeout);
    }

    [Test]
    public async Task Stopping_the_supervisor_terminates_every_child_and_fails_pending_requests()
    {
        var probe = new SupervisionProbe();
        var supervisor = new Supervisor("test", RestartPolicy.Default, NullLogger.Instance, observer: probe);
        using var stop = new CancellationTokenSource();
        var running = supervisor.RunAsync(stop.Token);
        await supervisor.Started.WaitAsync(Timeout);

        var children = Enumerable.Range(0, 20).Select(i => new ProbeProcess($"c{i}")).ToList();
        foreach (var child in children)
        {
            Assert.That(supervisor.TryStartChild(child), Is.True);
        }

        var hold = new Hold(new(TaskCreationOptions.RunContinuationsAsynchronously), new());
        children[0].TryPost(hold);
        await hold.Entered.Task.WaitAsync(Timeout);
        var stranded = new Echo(1);
        children[0].TryPost(stranded);

        await stop.CancelAsync();
        await running.WaitAsync(Timeout);

        Assert.That(supervisor.RunningChildren, Is.Zero);
        foreach (var child in children)
        {
            Assert.That(child.Ended.IsCompleted, Is.True, child.Name);
        }

        Assert.ThrowsAsync<ProcessStoppedException>(async () => await stranded.Reply.Task.WaitAsync(Timeout));
        Assert.That(supervisor.TryStartChild(new ProbeProcess("late")), Is.False, "no children after stop");
    }

    [Test]
    public async Task A_killed_process_fails_its_in_flight_request_and_is_restarted()
    {
        var supervisor = new Supervisor("test", RestartPolicy.Default, NullLogger.Instance);
        var child = new ProbeProcess("child");
        supervisor.AddChild(child);
        using var stop = new CancellationTokenSource();
        var running = supervisor.RunAsync(stop.Token);
        await EchoAsync(child, 0);

        var hold = new Hold(new(TaskCreationOptions.RunContinuationsAsynchronously), new());
        child.TryPost(hold);
        await hold.Entered.Task.WaitAsync(Timeout);
        child.Kill();

        Assert.That(await EchoAsync(child, 3), Is.EqualTo((3, 2)));
        await stop.CancelAsync();
        await running.WaitAsync(Timeout);
    }

    [Test]
    public void A_full_mailbox_fails_fast_with_TryPost_and_waits_with_PostAsync()
    {
        var process = new ProbeProcess("unstarted", capacity: 2);
        Assert.That(process.TryPost(new Echo(1)), Is.EqualTo(PostResult.Accepted));
        Assert.That(process.TryPost(new Echo(2)), Is.EqualTo(PostResult.Accepted));
        Assert.That(process.TryPost(new Echo(3)), Is.EqualTo(PostResult.MailboxFull));

        using var cancel = new CancellationTokenSource();
        var waiting = process.PostAsync(new Echo(4), cancel.Token).AsTask();
        Assert.That(waiting.IsCompleted, Is.False);
        cancel.Cancel();
        Assert.CatchAsync<OperationCanceledException>(async () => await waiting);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        // Bounded poll for a side effect that has no event of its own (a continuation on another thread).
        var deadline = DateTime.UtcNow + Timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("condition not met in time");
            }

            await Task.Yield();
        }
    }
}
