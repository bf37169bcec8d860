using CopilotGuard.Audit;

namespace CopilotGuard.Hosting;

/// <summary>How <see cref="CopilotGuardRuntime.OpenAsync"/> opens a runtime beyond its data folder: which providers,
/// and an optional decorator of the broker's audit log.</summary>
public sealed record CopilotGuardRuntimeOptions
{
    /// <summary>Gets the store, audit and embedder settings; when <see langword="null"/>, they are read from the
    /// environment (<c>CopilotGuard__Store__Provider</c>, ...), so every CLI verb opens what <c>serve</c> opens.</summary>
    public ProviderSettings? Providers { get; init; }

    /// <summary>Gets a decorator of the audit log the broker appends retrieval records to (e.g. to time appends in a
    /// load test); <see langword="null"/> appends to the runtime's audit log directly.</summary>
    /// <remarks>The decorator must append durably before it returns, as <see cref="IAuditLog.AppendAsync"/> promises:
    /// the broker releases data only after the append.</remarks>
    public Func<IAuditLog, IAuditLog>? DecorateBrokerAudit { get; init; }

    /// <summary>Gets whether opening refuses a store holding attribute values of another type than the attribute
    /// schema declares (chunks ingested before attributes were typed). The default is <see langword="true"/>;
    /// <c>copilotguard ingest</c>, which rewrites those chunks, opens without it and checks afterwards.</summary>
    public bool CheckStoredAttributeTypes { get; init; } = true;

    /// <summary>Gets the broker's limits (<c>CopilotGuard:Retrieval</c> when hosted); the defaults when <see langword="null"/>.</summary>
    public CopilotGuard.Retrieval.RetrievalBrokerOptions? Broker { get; init; }

    /// <summary>Gets the providers the settings may choose; every shipped one (<see cref="AvailableProviders.All"/>)
    /// when <see langword="null"/>.</summary>
    public AvailableProviders? Available { get; init; }
}
