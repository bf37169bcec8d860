using CopilotGuard.Identity;
using CopilotGuard.Labeling;
using CopilotGuard.Labels;
using CopilotGuard.Typing;

namespace CopilotGuard.Policy;

/// <summary>Everything policy-like that decides a request, loaded and validated together and never changed afterwards:
/// the policy bundle (and so its version and hash), the entitlements composed over the directory and the agent registry,
/// the destinations, the labeling policy and the attribute schema the bundle was type-checked against.</summary>
/// <remarks>A request reads the current snapshot once, at its start, from a <see cref="PolicySnapshotHolder"/> and
/// decides, resolves, gates and audits with that one snapshot, so no request mixes two versions of the policy even
/// while a reload swaps the holder's snapshot.</remarks>
public sealed class PolicySnapshot
{
    /// <summary>Creates a snapshot.</summary>
    /// <param name="policy">The policy bundle.</param>
    /// <param name="entitlements">The provider principals are resolved with (the directory, any remote source, narrowed by the agent registry).</param>
    /// <param name="destinations">The registered destinations; <see cref="DestinationRegistry.BuiltIn"/> when <see langword="null"/>.</param>
    /// <param name="agents">The agent registry; <see langword="null"/> when the gates hold their own registry.</param>
    /// <param name="labeling">The labeling policy; one with the bundle's taxonomy and no rules when <see langword="null"/>.</param>
    /// <param name="schema">The attribute schema the bundle was checked against; <see cref="AttributeSchema.BuiltIn"/> when <see langword="null"/>.</param>
    /// <param name="directory">The directory file the entitlements resolve from, when there is one.</param>
    public PolicySnapshot(
        PolicyBundle policy,
        IEntitlementProvider entitlements,
        DestinationRegistry? destinations = null,
        AgentRegistry? agents = null,
        LabelingPolicy? labeling = null,
        AttributeSchema? schema = null,
        DirectoryFile? directory = null)
    {
        Policy = policy ?? throw new ArgumentNullException(nameof(policy));
        Entitlements = entitlements ?? throw new ArgumentNullException(nameof(entitlements));
        Destinations = destinations ?? DestinationRegistry.BuiltIn(policy.Labels);
        Agents = agents;
        Labeling = labeling ?? new LabelingPolicy(policy.Labels, [], null, []);
        Schema = schema ?? AttributeSchema.BuiltIn;
        Directory = directory;
    }

    /// <summary>Gets the policy bundle.</summary>
    public PolicyBundle Policy { get; }

    /// <summary>Gets the policy version every audit record of a request decided with this snapshot carries.</summary>
    public string Version => Policy.Version;

    /// <summary>Gets the policy hash (SHA-256 of the bundle) every audit record of a request decided with this snapshot carries.</summary>
    public string Hash => Policy.Sha256;

    /// <summary>Gets the label taxonomy of the bundle.</summary>
    public LabelTaxonomy Labels => Policy.Labels;

    /// <summary>Gets the provider principals are resolved with.</summary>
    public IEntitlementProvider Entitlements { get; }

    /// <summary>Gets the registered destinations.</summary>
    public DestinationRegistry Destinations { get; }

    /// <summary>Gets the agent registry, or <see langword="null"/> when the gates hold their own.</summary>
    public AgentRegistry? Agents { get; }

    /// <summary>Gets the labeling policy (taxonomy, label rules, auto-elevation).</summary>
    public LabelingPolicy Labeling { get; }

    /// <summary>Gets the attribute schema the bundle was type-checked against.</summary>
    public AttributeSchema Schema { get; }

    /// <summary>Gets the directory file the entitlements resolve from, when there is one.</summary>
    public DirectoryFile? Directory { get; }
}

/// <summary>Holds the current <see cref="PolicySnapshot"/> and swaps it atomically: readers see either the old snapshot
/// or the new one, never a mixture.</summary>
public sealed class PolicySnapshotHolder
{
    private PolicySnapshot _current;

    /// <summary>Creates a holder over the first snapshot.</summary>
    public PolicySnapshotHolder(PolicySnapshot initial) => _current = initial ?? throw new ArgumentNullException(nameof(initial));

    /// <summary>Gets the current snapshot; read it once per request and use that one throughout.</summary>
    public PolicySnapshot Current => Volatile.Read(ref _current);

    /// <summary>Makes a snapshot current and returns the one it replaced.</summary>
    public PolicySnapshot Swap(PolicySnapshot next)
    {
        ArgumentNullException.ThrowIfNull(next);
        return Interlocked.Exchange(ref _current, next);
    }

    /// <summary>Creates a holder that always holds one snapshot of a bundle and entitlement provider (no reloads).</summary>
    public static PolicySnapshotHolder Fixed(PolicyBundle policy, IEntitlementProvider entitlements, DestinationRegistry? destinations = null) =>
        new(new PolicySnapshot(policy, entitlements, destinations));

    /// <summary>Creates a holder that always holds one bundle, for parts that only stamp its version and hash (no
    /// principal resolves through it).</summary>
    public static PolicySnapshotHolder Fixed(PolicyBundle policy) => Fixed(policy, NoPrincipals.Instance);

    private sealed class NoPrincipals : IEntitlementProvider
    {
        public static NoPrincipals Instance { get; } = new();

        public ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken) => ValueTask.FromResult<Principal?>(null);
    }
}
