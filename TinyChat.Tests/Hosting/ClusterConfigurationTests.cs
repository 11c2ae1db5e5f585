using Microsoft.Extensions.DependencyInjection;
using TinyChat.Chat;
using TinyChat.Cluster;
using TinyChat.Hosting;
using TinyChat.Tests.Support;

namespace TinyChat.Tests.Hosting;

/// <summary>The <c>Cluster</c> section: validation at start, and which bus and presence the host composes.</summary>
[TestFixture]
public sealed class ClusterConfigurationTests
{
    [TestCase("Cluster:HeartbeatSeconds", "0")]
    [TestCase("Cluster:HeartbeatSeconds", "-1")]
    [TestCase("Cluster:NodeTimeoutSeconds", "0")]
    [TestCase("Cluster:NodeTimeoutSeconds", "6")]
    [TestCase("Cluster:NodeName", "two words")]
    [TestCase("Cluster:NodeName", "a-name-that-is-far-too-long-for-a-node-name-because-it-goes-on-and-on")]
    public void An_invalid_cluster_option_stops_start_up_with_one_line_naming_the_key(string key, string value)
    {
        var ex = Assert.CatchAsync(() => TestServer.StartAsync(new Dictionary<string, string> { [key] = value }));
        var problem = StartupProblem.Of(ex!);
        Assert.That(problem, Does.StartWith(key), ex!.ToString());
        Assert.That(problem, Does.Not.Contain("\n"));
    }

    [Test]
    public void An_unknown_cluster_key_stops_start_up()
    {
        var ex = Assert.CatchAsync(() => TestServer.StartAsync(new Dictionary<string, string> { ["Cluster:Nodes"] = "3" }));
        Assert.That(StartupProblem.Of(ex!), Does.Contain("Cluster:Nodes"));
    }

    [Test]
    public async Task Without_postgres_the_host_keeps_the_in_process_bus_and_presence_under_the_configured_name()
    {
        await using var server = await TestServer.StartAsync(new Dictionary<string, string> { ["Cluster:NodeName"] = "kitchen" });
        Assert.That(server.Services.GetRequiredService<IChatBus>(), Is.InstanceOf<InProcessChatBus>());
        var presence = server.Services.GetRequiredService<IPresence>();
        Assert.That(presence, Is.InstanceOf<InProcessPresence>());
        Assert.That(presence.Node, Is.EqualTo("kitchen"));
        Assert.That(server.Services.GetRequiredService<ChatServer>().Presence, Is.SameAs(presence));
    }

    [Test]
    public void The_default_node_name_is_the_host_name_and_port()
    {
        Assert.That(new ClusterOptions().ResolveNodeName(4001), Is.EqualTo(Environment.MachineName + ":4001"));
        Assert.That(new ClusterOptions { NodeName = "n1" }.ResolveNodeName(4001), Is.EqualTo("n1"));
        Assert.That(new ClusterOptions().ResolveNodeName(0), Is.Not.EqualTo(new ClusterOptions().ResolveNodeName(0)), "port 0: made unique");
    }

    [Test]
    [Category("Postgres")]
    public async Task With_postgres_the_host_uses_the_postgres_bus_and_cluster_presence()
    {
        var postgres = await PostgresServer.SharedAsync();
        await using var server = await TestServer.StartAsync(new Dictionary<string, string>
        {
            ["Storage:Provider"] = "postgres",
            ["Storage:ConnectionString"] = await postgres.CreateDatabaseAsync(),
            ["Cluster:NodeName"] = "n1",
        });
        Assert.That(server.Services.GetRequiredService<IChatBus>(), Is.InstanceOf<PostgresChatBus>());
        Assert.That(server.Services.GetRequiredService<ChatServer>().Presence, Is.InstanceOf<ClusterPresence>().And.Property("Node").EqualTo("n1"));
    }
}
