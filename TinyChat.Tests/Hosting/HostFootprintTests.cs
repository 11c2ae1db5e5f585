using System.Text.Json.Nodes;

namespace TinyChat.Tests.Hosting;

/// <summary>What the runtime spends besides the chat: no idle worker spinning (no watched folder: <see cref="FileWatchTests"/>).</summary>
[TestFixture]
public sealed class HostFootprintTests
{
    [Test]
    public void Idle_thread_pool_workers_block_instead_of_spinning()
    {
        // The runtime's default lets an idle worker spin (sched_yield) before it blocks: on two busy cores that was
        // 8 % of a connect storm's CPU, taken from the work the spinning waited for.
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "tinychat.runtimeconfig.json")))!;
        var spin = config["runtimeOptions"]?["configProperties"]?["System.Threading.ThreadPool.UnfairSemaphoreSpinLimit"];
        Assert.That(spin?.GetValue<int>(), Is.EqualTo(0));
    }
}
