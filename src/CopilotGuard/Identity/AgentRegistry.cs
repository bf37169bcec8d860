using System.Collections.Frozen;
using System.Collections.Immutable;
using CopilotGuard.Filtering;
using CopilotGuard.Policy;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CopilotGuard.Identity;

/// <summary>One registered agent and what it may use.</summary>
/// <param name="Id">The agent's principal id (the <c>act.sub</c> of delegated tokens).</param>
/// <param name="DisplayName">A human-readable name.</param>
/// <param name="Owner">The team accountable for the agent.</param>
/// <param name="Sources">The sources it may read; intersected with the directory's <c>sources</c> attribute when the
/// directory has one (an empty list there means none), used alone when it has none.</param>
/// <param name="Purposes">The purposes it may declare.</param>
/// <param name="Destinations">The destinations it may send data to, checked against the resolved destination (an
/// undeclared or unregistered one is the most restrictive registered destination).</param>
/// <param name="RequirePurpose">Whether every request must declare one of <paramref name="Purposes"/>.</param>
public sealed record AgentRegistration(
    string Id,
    string? DisplayName,
    string? Owner,
    ImmutableArray<string> Sources,
    ImmutableArray<string> Purposes,
    ImmutableArray<string> Destinations,
    bool RequirePurpose);

/// <summary>The registry of agents and their capabilities, read from a YAML file validated against
/// <c>schemas/agents.schema.json</c>.</summary>
/// <remarks>
/// Format: <c>apiVersion: copilotguard/v1</c> and <c>agents:</c>, a list of <c>{id, displayName, owner, capabilities:
/// {sources, purposes, destinations, requirePurpose}}</c>. An agent that is not listed gets nothing.
/// </remarks>
public sealed class AgentRegistry
{
    private static readonly ImmutableHashSet<string> AgentKeys = ["id", "displayName", "owner", "capabilities"];
    private static readonly ImmutableHashSet<string> CapabilityKeys = ["sources", "purposes", "destinations", "requirePurpose"];
    private readonly FrozenDictionary<string, AgentRegistration> _agents;

    private AgentRegistry(FrozenDictionary<string, AgentRegistration> agents) => _agents = agents;

    /// <summary>Gets a registry with no agents: every agent is refused.</summary>
    public static AgentRegistry Empty { get; } = new(FrozenDictionary<string, AgentRegistration>.Empty);

    /// <summary>Gets every registered agent.</summary>
    public IEnumerable<AgentRegistration> Agents => _agents.Values;

    /// <summary>Gets an agent's registration.</summary>
    public bool TryGet(string agentId, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out AgentRegistration? registration) =>
        _agents.TryGetValue(agentId, out registration);

    /// <summary>Reads and validates a registry file.</summary>
    /// <exception cref="PolicyValidationException">The file is invalid; every problem is listed.</exception>
    public static async Task<AgentRegistry> LoadAsync(string path, CancellationToken cancellationToken) =>
        Parse(Path.GetFileName(path), await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false));

    /// <summary>Parses and validates a registry from YAML text.</summary>
    /// <exception cref="PolicyValidationException">The text is invalid; every problem is listed.</exception>
    public static AgentRegistry Parse(string name, string yaml)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var (root, list) = YamlFile.ReadMappingWithList(name, yaml, "agents", "an agent registry is a mapping with an 'agents' list");

        var errors = new List<PolicyError>();
        if (Scalar(root, "apiVersion") is not "copilotguard/v1")
        {
            errors.Add(new PolicyError(name, (int)root.Start.Line, null, "apiVersion must be copilotguard/v1"));
        }

        var agents = new Dictionary<string, AgentRegistration>(StringComparer.Ordinal);
        foreach (var node in list)
        {
            var line = (int)node.Start.Line;
            if (node is not YamlMappingNode entry)
            {
                errors.Add(new PolicyError(name, line, null, "each agent is a mapping with id and capabilities"));
                continue;
            }

            UnknownKeys(name, entry, AgentKeys, errors);
            var id = Scalar(entry, "id");
            if (!KillSwitch.IsValidPrincipalId(id))
            {
                errors.Add(new PolicyError(name, line, null, "id is required (1-256 characters)"));
                continue;
            }

            if (!entry.Children.TryGetValue(new YamlScalarNode("capabilities"), out var capabilitiesNode) || capabilitiesNode is not YamlMappingNode capabilities)
            {
                errors.Add(new PolicyError(name, line, null, $"agent '{id}': capabilities (a mapping of sources, purposes, destinations) is required"));
                continue;
            }

            UnknownKeys(name, capabilities, CapabilityKeys, errors);
            var sources = List(name, id!, capabilities, "sources", errors);
            var purposes = List(name, id!, capabilities, "purposes", errors);
            var destinations = List(name, id!, capabilities, "destinations", errors);
            if (destinations.IsEmpty)
            {
                errors.Add(new PolicyError(name, (int)capabilities.Start.Line, null, $"agent '{id}': destinations must list at least one destination"));
            }

            var requirePurpose = Scalar(capabilities, "requirePurpose") switch
            {
                null or "false" => false,
                "true" => true,
                var other => Error(errors, new PolicyError(name, (int)capabilities.Start.Line, null, $"agent '{id}': requirePurpose must be true or false, not '{other}'")),
            };
            if (requirePurpose && purposes.IsEmpty)
            {
                errors.Add(new PolicyError(name, (int)capabilities.Start.Line, null, $"agent '{id}': requirePurpose needs at least one purpose"));
            }

            if (!agents.TryAdd(id!, new AgentRegistration(id!, Scalar(entry, "displayName"), Scalar(entry, "owner"), sources, purposes, destinations, requirePurpose)))
            {
                errors.Add(new PolicyError(name, line, null, $"agent '{id}' is listed twice"));
            }
        }

        if (errors.Count > 0)
        {
            throw new PolicyValidationException(errors);
        }

        return new AgentRegistry(agents.ToFrozenDictionary(StringComparer.Ordinal));
    }

    private static bool Error(List<PolicyError> errors, PolicyError error)
    {
        errors.Add(error);
        return false;
    }

    private static void UnknownKeys(string name, YamlMappingNode node, ImmutableHashSet<string> allowed, List<PolicyError> errors)
    {
        foreach (var key in node.Children.Keys.OfType<YamlScalarNode>().Where(key => !allowed.Contains(key.Value ?? string.Empty)))
        {
            errors.Add(new PolicyError(name, (int)key.Start.Line, null, $"unknown field '{key.Value}'; expected one of {string.Join(", ", allowed.Order(StringComparer.Ordinal))}"));
        }
    }

    private static ImmutableArray<string> List(string name, string id, YamlMappingNode node, string key, List<PolicyError> errors)
    {
        if (!node.Children.TryGetValue(new YamlScalarNode(key), out var value))
        {
            return [];
        }

        if (value is not YamlSequenceNode sequence || sequence.Children.Any(static c => c is not YamlScalarNode { Value.Length: > 0 }))
        {
            errors.Add(new PolicyError(name, (int)value.Start.Line, null, $"agent '{id}': {key} must be a list of non-empty strings"));
            return [];
        }

        return [.. sequence.Children.Cast<YamlScalarNode>().Select(static s => s.Value!).Distinct(StringComparer.Ordinal)];
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;
}

/// <summary>Resolves agents only when they are registered, and narrows their <c>sources</c> to the registration.</summary>
/// <remarks>An agent the inner provider knows but the registry does not is reported unknown, so it gets nothing.
/// Users and services pass through unchanged.</remarks>
public sealed class RegisteredAgentEntitlementProvider : IEntitlementProvider
{
    private readonly IEntitlementProvider _inner;
    private readonly AgentRegistry _registry;

    /// <summary>Creates the provider over another provider and the registry.</summary>
    public RegisteredAgentEntitlementProvider(IEntitlementProvider inner, AgentRegistry registry)
    {
        _inner = inner ?? throw new ArgumentNullException(nameof(inner));
        _registry = registry ?? throw new ArgumentNullException(nameof(registry));
    }

    /// <inheritdoc />
    public async ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken)
    {
        var principal = await _inner.ResolveAsync(principalId, cancellationToken).ConfigureAwait(false);
        if (principal is not { Kind: PrincipalKind.Agent })
        {
            return principal;
        }

        if (!_registry.TryGet(principal.Id, out var registration))
        {
            return null;
        }

        IEnumerable<string> sources = registration.Sources;
        if (principal.Attributes.TryGet("sources", out var declared))
        {
            var directorySources = declared.Where(static v => v.Kind == AttributeKind.String).Select(static v => v.Text).ToHashSet(StringComparer.Ordinal);
            sources = sources.Where(directorySources.Contains);
        }

        return principal with { Attributes = principal.Attributes.With("sources", [.. sources.Select(AttributeValue.FromString)]) };
    }
}

/// <summary>Refuses an agent that is not registered, or that declares a purpose or destination it is not registered for.</summary>
public sealed class AgentRegistryGate : IAccessGate
{
    private readonly AgentRegistry? _registry;
    private readonly PolicySnapshotHolder? _holder;

    /// <summary>Creates the gate over a fixed registry.</summary>
    public AgentRegistryGate(AgentRegistry registry) => _registry = registry ?? throw new ArgumentNullException(nameof(registry));

    /// <summary>Creates the gate over the registry of the policy snapshot each request is decided with (the request's
    /// <see cref="AccessRequest.Snapshot"/>, else the holder's current one), so a reloaded registry applies at once.</summary>
    public AgentRegistryGate(PolicySnapshotHolder holder) => _holder = holder ?? throw new ArgumentNullException(nameof(holder));

    /// <inheritdoc />
    public ValueTask CheckAsync(CallerPrincipals caller, AccessRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(request);
        return Refusal(caller, request.Purpose, request.Destination, request.Snapshot) is { } refusal
            ? throw new GuardException(GuardErrorKind.Forbidden, refusal)
            : ValueTask.CompletedTask;
    }

    /// <summary>Says why the registry refuses a caller for a purpose and (resolved) destination, or returns
    /// <see langword="null"/> when it does not; <c>policy test</c> and <c>policy explain</c> ask the same question.</summary>
    public string? Refusal(CallerPrincipals caller, string? purpose, string destination) => Refusal(caller, purpose, destination, null);

    /// <summary>Says why the registry of a policy snapshot (for a gate over a holder) refuses a caller, or returns
    /// <see langword="null"/> when it does not.</summary>
    /// <param name="caller">The resolved caller.</param>
    /// <param name="purpose">The declared purpose.</param>
    /// <param name="destination">The resolved destination.</param>
    /// <param name="snapshot">The snapshot the request is decided with; the holder's current one when <see langword="null"/>.
    /// A gate over a fixed registry ignores it.</param>
    public string? Refusal(CallerPrincipals caller, string? purpose, string destination, PolicySnapshot? snapshot)
    {
        ArgumentNullException.ThrowIfNull(caller);
        // Fail closed: a snapshot without a registry registers no agent.
        var registry = _registry ?? (snapshot ?? _holder!.Current).Agents ?? AgentRegistry.Empty;
        foreach (var agent in (ReadOnlySpan<Principal?>)[caller.Actor, caller.Subject])
        {
            if (agent is not { Kind: PrincipalKind.Agent })
            {
                continue;
            }

            if (!registry.TryGet(agent.Id, out var registration))
            {
                return $"Agent '{agent.Id}' is not a registered agent.";
            }

            if (!registration.Destinations.Contains(destination, StringComparer.Ordinal))
            {
                return $"Agent '{agent.Id}' is not registered for destination '{destination}' (registered: {string.Join(", ", registration.Destinations)}).";
            }

            if (string.IsNullOrWhiteSpace(purpose))
            {
                if (registration.RequirePurpose)
                {
                    return $"Agent '{agent.Id}' must declare one of the purposes {string.Join(", ", registration.Purposes)}.";
                }
            }
            else if (!registration.Purposes.Contains(purpose, StringComparer.Ordinal))
            {
                return $"Agent '{agent.Id}' is not registered for purpose '{purpose}'.";
            }
        }

        return null;
    }
}
