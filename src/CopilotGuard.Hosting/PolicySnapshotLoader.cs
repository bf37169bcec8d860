using CopilotGuard.Identity;
using CopilotGuard.Policy;
using CopilotGuard.Hosting.Identity;

namespace CopilotGuard.Hosting;

/// <summary>Loads and validates everything policy-like of a data folder into one <see cref="PolicySnapshot"/>: the one
/// path shared by start-up (<see cref="CopilotGuardRuntime.OpenAsync"/>) and live reloads (<see cref="PolicyReloader"/>),
/// so a reload accepts exactly what start-up accepts.</summary>
public static class PolicySnapshotLoader
{
    /// <summary>Reads <c>labels.yaml</c>, <c>attributes.yaml</c>, <c>directory.yaml</c> (checked against the schema), the
    /// policy bundle (type-checked against the schema), <c>destinations.yaml</c> and <c>agents.yaml</c>, and composes the
    /// entitlements over the directory and the agent registry.</summary>
    /// <param name="data">The data folder.</param>
    /// <param name="seed">Whether to copy the sample agent registry into a folder that has none (start-up only).</param>
    /// <param name="settings">The entitlement settings (remote source, cache); the defaults when <see langword="null"/>.</param>
    /// <param name="time">The clock of the entitlement cache.</param>
    /// <param name="cancellationToken">Cancels loading.</param>
    /// <exception cref="PolicyValidationException">A file is invalid; every problem is named with its file and line.</exception>
    /// <exception cref="PolicySyntaxException">A policy condition does not parse.</exception>
    /// <exception cref="FileNotFoundException">The directory file is missing.</exception>
    public static async Task<PolicySnapshot> LoadAsync(DataFolder data, bool seed, ContinuousVerificationSettings? settings, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(data);
        var labeling = await CopilotGuardRuntime.LoadLabelingAsync(data, cancellationToken).ConfigureAwait(false);
        var labels = labeling.Taxonomy;
        var (directory, schema) = await CopilotGuardRuntime.LoadDirectoryAndSchemaAsync(data, labels, corpus: null, cancellationToken).ConfigureAwait(false);
        var policy = await new PolicyLoader(labels, schema).LoadDirectoryAsync(data.PoliciesPath, cancellationToken).ConfigureAwait(false);
        var destinations = await DestinationRegistry.LoadAsync(data.DestinationsPath, labels, cancellationToken).ConfigureAwait(false);
        var agents = await ContinuousVerification.LoadAgentsAsync(data, seed, cancellationToken).ConfigureAwait(false);
        return new PolicySnapshot(
            policy,
            ContinuousVerification.ComposeEntitlements(directory, policy, agents, settings, time),
            destinations,
            agents,
            labeling,
            schema,
            directory);
    }
}
