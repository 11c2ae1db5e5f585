using TinyChat.Runtime;

namespace TinyChat.Tests.Runtime;

public sealed class RestartStatisticsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 22, 0, 0, 0, TimeSpan.Zero);

    [Test]
    public void Restarts_within_the_intensity_are_allowed_and_the_next_one_is_not()
    {
        var stats = new RestartStatistics(new RestartPolicy(3, TimeSpan.FromSeconds(5)));
        Assert.That(stats.TryRecordRestart(T0), Is.True);
        Assert.That(stats.TryRecordRestart(T0.AddSeconds(1)), Is.True);
        Assert.That(stats.TryRecordRestart(T0.AddSeconds(2)), Is.True);
        Assert.That(stats.TryRecordRestart(T0.AddSeconds(3)), Is.False);
        Assert.That(stats.TotalRestarts, Is.EqualTo(3));
    }

    [Test]
    public void Restarts_older_than_the_window_no_longer_count()
    {
        var stats = new RestartStatistics(new RestartPolicy(2, TimeSpan.FromSeconds(5)));
        Assert.That(stats.TryRecordRestart(T0), Is.True);
        Assert.That(stats.TryRecordRestart(T0.AddSeconds(1)), Is.True);
        Assert.That(stats.TryRecordRestart(T0.AddSeconds(7)), Is.True, "both earlier restarts left the window");
        Assert.That(stats.RecentRestarts, Is.EqualTo(1));
        Assert.That(stats.TotalRestarts, Is.EqualTo(3));
    }

    [Test]
    public void Zero_max_restarts_escalates_on_the_first_fault()
    {
        var stats = new RestartStatistics(new RestartPolicy(0, TimeSpan.FromSeconds(5)));
        Assert.That(stats.TryRecordRestart(T0), Is.False);
    }

    [TestCase(RestartKind.Permanent, true, SupervisorDirective.Restart)]
    [TestCase(RestartKind.Permanent, false, SupervisorDirective.Restart)]
    [TestCase(RestartKind.Transient, true, SupervisorDirective.Restart)]
    [TestCase(RestartKind.Transient, false, SupervisorDirective.Stop)]
    [TestCase(RestartKind.Temporary, true, SupervisorDirective.Stop)]
    public void The_directive_follows_the_restart_kind(RestartKind kind, bool faulted, SupervisorDirective expected)
    {
        var fault = faulted ? new InvalidOperationException("boom") : null;
        Assert.That(SupervisionDecision.Decide(kind, fault, () => true), Is.EqualTo(expected));
    }

    [Test]
    public void A_wanted_restart_beyond_the_intensity_escalates()
    {
        Assert.That(SupervisionDecision.Decide(RestartKind.Permanent, new InvalidOperationException(), () => false), Is.EqualTo(SupervisorDirective.Escalate));
    }
}
