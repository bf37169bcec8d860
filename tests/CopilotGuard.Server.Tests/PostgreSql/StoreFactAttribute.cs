using CopilotGuard.Connectors.PostgreSql.Tests;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace CopilotGuard.Server.Tests.PostgreSql;

/// <summary>A fact of an end-to-end class that runs on several stores: skipped, with the reason, in a class of the
/// PostgreSQL collection when PostgreSQL is not installed; an ordinary fact everywhere else.</summary>
[XunitTestCaseDiscoverer("CopilotGuard.Server.Tests.PostgreSql.StoreFactDiscoverer", "CopilotGuard.Server.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class StoreFactAttribute : FactAttribute;

/// <summary>A theory of an end-to-end class that runs on several stores (see <see cref="StoreFactAttribute"/>).</summary>
[XunitTestCaseDiscoverer("CopilotGuard.Server.Tests.PostgreSql.StoreTheoryDiscoverer", "CopilotGuard.Server.Tests")]
[AttributeUsage(AttributeTargets.Method)]
public sealed class StoreTheoryAttribute : TheoryAttribute;

/// <summary>Discovers <see cref="StoreFactAttribute"/> tests.</summary>
public sealed class StoreFactDiscoverer(IMessageSink diagnosticMessageSink) : StoreDiscoverer(diagnosticMessageSink, new FactDiscoverer(diagnosticMessageSink));

/// <summary>Discovers <see cref="StoreTheoryAttribute"/> tests.</summary>
public sealed class StoreTheoryDiscoverer(IMessageSink diagnosticMessageSink) : StoreDiscoverer(diagnosticMessageSink, new TheoryDiscoverer(diagnosticMessageSink));

/// <summary>Discovers tests as <paramref name="inner"/> does, or as one skipped case when the PostgreSQL collection cannot run.</summary>
public abstract class StoreDiscoverer(IMessageSink diagnosticMessageSink, IXunitTestCaseDiscoverer inner) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
        SkippedStoreTestCase.Applies(testMethod)
            ? [new SkippedStoreTestCase(diagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod)]
            : inner.Discover(discoveryOptions, testMethod, factAttribute);
}

/// <summary>One skipped test case for a method of the PostgreSQL collection, when PostgreSQL is not installed.</summary>
public sealed class SkippedStoreTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public SkippedStoreTestCase()
    {
    }

    public SkippedStoreTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay defaultMethodDisplay, TestMethodDisplayOptions defaultMethodDisplayOptions, ITestMethod testMethod)
        : base(diagnosticMessageSink, defaultMethodDisplay, defaultMethodDisplayOptions, testMethod)
    {
    }

    /// <summary>Tells whether a method belongs to the PostgreSQL collection and PostgreSQL is not installed.</summary>
    public static bool Applies(ITestMethod testMethod) =>
        PostgresServer.SkipReason is not null
        && testMethod.TestClass.TestCollection.CollectionDefinition?.ToRuntimeType() == typeof(PostgreSqlServerCollection);

    protected override string GetSkipReason(IAttributeInfo factAttribute) => PostgresServer.SkipReason ?? base.GetSkipReason(factAttribute);
}
