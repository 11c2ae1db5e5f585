global using NUnit.Framework;

// Fixtures run in parallel (each test starts its own server on a free port, in its own temp folder); tests of one
// fixture run one after the other. Fixtures that measure timing or own process-wide state opt out.
[assembly: Parallelizable(ParallelScope.Fixtures)]
[assembly: LevelOfParallelism(3)]
