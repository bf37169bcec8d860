using System.Collections.Immutable;
using System.Text;
using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Testing;

/// <summary>Runs random policies, principals and chunks through the real broker and a naive oracle, and reports
/// every case where the returned chunks (and their order) differ.</summary>
public static class DifferentialHarness
{
    private const int Dimensions = 8;

    /// <summary>Runs <paramref name="worlds"/> random corpora, each with <paramref name="casesPerWorld"/> random callers and policies.</summary>
    /// <returns>A description of the first disagreement, with a minimal reproduction, or <see langword="null"/>.</returns>
    public static async Task<string?> RunAsync(Func<int, Task<IChunkStore>> createStore, int seed, int worlds, int casesPerWorld, int chunksPerWorld = 40, int explainEvery = 1)
    {
        for (var world = 0; world < worlds; world++)
        {
            var worldSeed = unchecked((seed * 1_000_003) + world);
            var scenarios = new RandomScenarios(worldSeed);
            var store = await createStore(world).ConfigureAwait(false);
            await store.InitializeAsync(CancellationToken.None).ConfigureAwait(false);
            var stored = Enumerable.Range(0, chunksPerWorld)
                .Select(i => new StoredChunk(scenarios.Chunk(i), DeterministicEmbedder.RandomUnitVector(scenarios.Random, Dimensions)))
                .ToList();
            await store.UpsertAsync(stored, CancellationToken.None).ConfigureAwait(false);

            for (var i = 0; i < casesPerWorld; i++)
            {
                var failure = await RunCaseAsync(store, stored, scenarios, $"seed {seed}, world {world}, case {i}", explain: i % explainEvery == 0).ConfigureAwait(false);
                if (failure is not null)
                {
                    return failure;
                }
            }
        }

        return null;
    }

    private static async Task<string?> RunCaseAsync(IChunkStore store, List<StoredChunk> stored, RandomScenarios scenarios, string label, bool explain)
    {
        var policy = scenarios.Policy(scenarios.Random.Next(1, 9));
        var user = scenarios.Principal("user-1", PrincipalKind.User);
        var agent = scenarios.Random.Next(3) == 0 ? scenarios.Principal("agent-1", PrincipalKind.Agent) : null;
        var directory = new FixedDirectory(agent is null ? [user] : [user, agent]);
        var destination = scenarios.Destination();
        var request = RetrievalBroker.RequestAttributes(null, destination);
        var top = scenarios.Random.Next(1, 12);
        var query = "q" + scenarios.Random.Next(1000);
        var embedder = new DeterministicEmbedder(Dimensions);
        // This harness compares the policy language with the oracle; ceilings have their own tests.
        var destinations = TestDestinations.Open(policy.Labels);
        var broker = new RetrievalBroker(directory, policy, store, embedder, new InMemoryAuditLog(), new QueryHasher(new byte[32]), destinations: destinations);
        var caller = new CallerPrincipals(user, agent);

        var result = await broker.RetrieveAsync(
            new RetrievalRequest { Caller = new CallerIdentity(user.Id, agent?.Id), Query = query, Top = top, Destination = destination },
            CancellationToken.None).ConfigureAwait(false);

        var expected = InMemoryChunkStore.Rank(DeterministicEmbedder.VectorFor(query, Dimensions), stored.Where(c => PolicyOracle.Allows(policy, caller, request, c.Chunk.ResourceAttributes)))
            .Take(top)
            .Select(static c => c.Chunk.Id)
            .ToList();
        var actual = result.Chunks.Select(static c => c.Chunk.Id).ToList();
        foreach (var candidate in explain ? stored : [])
        {
            // policy explain must agree with the oracle on every chunk, not only the returned ones.
            var explained = policy.Explain(caller, request, candidate.Chunk.ResourceAttributes).Visible;
            if (explained != PolicyOracle.Allows(policy, caller, request, candidate.Chunk.ResourceAttributes))
            {
                return Describe(label + " (policy explain)", policy, caller, request, candidate.Chunk, expected, actual);
            }
        }

        if (expected.SequenceEqual(actual))
        {
            return null;
        }

        var wrong = expected.Except(actual).Concat(actual.Except(expected)).FirstOrDefault();
        var chunk = wrong is null ? null : stored.First(c => c.Chunk.Id == wrong).Chunk;
        return Describe(label, policy, caller, request, chunk, expected, actual);
    }

    private static string Describe(string label, PolicyBundle policy, CallerPrincipals caller, AttributeSet request, Chunk? chunk, List<string> expected, List<string> actual)
    {
        var rules = policy.Rules;
        if (chunk is not null)
        {
            // Shrink: drop rules while the broker's decision and the oracle still disagree on this chunk.
            for (var i = rules.Length - 1; i >= 0; i--)
            {
                var candidate = rules.RemoveAt(i);
                var bundle = new PolicyBundle(policy.Version, policy.Sha256, candidate, policy.Labels);
                if (Disagree(bundle, caller, request, chunk))
                {
                    rules = candidate;
                }
            }
        }

        var text = new StringBuilder()
            .AppendLine($"Disagreement at {label}.")
            .AppendLine($"expected: [{string.Join(", ", expected)}]")
            .AppendLine($"actual:   [{string.Join(", ", actual)}]")
            .AppendLine("rules:");
        foreach (var rule in rules)
        {
            text.AppendLine($"  - {rule.Effect}: {rule.ConditionText}");
        }

        text.AppendLine($"subject: {Format(caller.Subject.Attributes)}");
        if (caller.Actor is not null)
        {
            text.AppendLine($"actor:   {Format(caller.Actor.Attributes)}");
        }

        text.AppendLine($"request: {Format(request)}");
        if (chunk is not null)
        {
            text.AppendLine($"chunk {chunk.Id}: {Format(chunk.ResourceAttributes)}");
            var bundle = new PolicyBundle(policy.Version, policy.Sha256, rules, policy.Labels);
            text.AppendLine($"residual: {bundle.Decide(caller, request)}");
        }

        return text.ToString();
    }

    private static bool Disagree(PolicyBundle bundle, CallerPrincipals caller, AttributeSet request, Chunk chunk) =>
        FilterEvaluator.Matches(bundle.Decide(caller, request), chunk.ResourceAttributes) != PolicyOracle.Allows(bundle, caller, request, chunk.ResourceAttributes);

    private static string Format(AttributeSet attributes) =>
        string.Join("; ", attributes.OrderBy(static p => p.Key, StringComparer.Ordinal).Select(static p => $"{p.Key}=[{string.Join(", ", p.Value.Select(static v => $"{v.Kind}:{Escape(v.Text)}"))}]"));

    private static string Escape(string text) => RandomScenarios.Quote(text);

    private sealed class FixedDirectory(IEnumerable<Principal> principals) : IEntitlementProvider
    {
        private readonly ImmutableDictionary<string, Principal> _principals = principals.ToImmutableDictionary(static p => p.Id);

        public ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken) =>
            ValueTask.FromResult(_principals.GetValueOrDefault(principalId));
    }
}
