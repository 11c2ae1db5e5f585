using TinyChat.Tests.Support;

// No namespace: NUnit runs a SetUpFixture around the tests of its namespace, and this one is for the whole run.
[SetUpFixture]
public sealed class TestRun
{
    /// <summary>Stops the PostgreSQL server the fixtures shared, if any test started it.</summary>
    [OneTimeTearDown]
    public async Task StopSharedServersAsync() => await PostgresServer.StopSharedAsync();
}
