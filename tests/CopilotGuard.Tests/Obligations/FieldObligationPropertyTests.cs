using System.Collections.Immutable;
using System.Text.Json;
using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Obligations;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;

namespace CopilotGuard.Tests.Obligations;

/// <summary>For random rows, field labels, obligations and callers: no released chunk carries, in its fields or its
/// text, the clear value of a field the caller may not see in clear.</summary>
public sealed class FieldObligationPropertyTests
{
    private static readonly string[] FieldNames = ["f0", "f1", "f2", "f3", "f4"];
    private static readonly string[] Operators = ["drop", "keep", "hash", "{ mask: { keepLast: 3 } }", "{ generalize: { category: other } }"];

    [Fact]
    public async Task Release_RandomRowsObligationsAndCallers_NeverLeaksAWithheldValue()
    {
        var checkedFields = 0;
        for (var seed = 0; seed < 400; seed++)
        {
            var scenarios = new RandomScenarios(seed);
            var random = scenarios.Random;
            var labels = LabelTaxonomy.Default;
            var obligationsYaml = string.Join("\n", Enumerable.Range(0, random.Next(0, 4)).Select(i =>
                $"  - id: o{i}\n    when: {Yaml(scenarios.Expression(2))}\n    fields: {{ {string.Join(", ", FieldNames.Where(_ => random.Next(2) == 0).DefaultIfEmpty("f0").Select(f => $"{f}: {Operators[random.Next(Operators.Length)]}"))} }}"));
            var rules = scenarios.Policy(random.Next(1, 5));
            var obligationBundle = new PolicyLoader(labels).Load([("o.yaml", $"apiVersion: copilotguard/v1\nversion: \"1\"\nobligations:\n{(obligationsYaml.Length == 0 ? "  - id: none\n    when: \"false\"\n    fields: { f0: keep }" : obligationsYaml)}\n")]);
            var policy = new PolicyBundle("p", "h", rules.Rules, labels, obligationBundle.Obligations);

            var user = scenarios.Principal("u", PrincipalKind.User);
            var agent = random.Next(4) == 0 ? scenarios.Principal("a", PrincipalKind.Agent) : null;
            var caller = new CallerPrincipals(user, agent);
            var destination = scenarios.Destination();
            var request = RetrievalBroker.RequestAttributes(null, destination);

            var store = new InMemoryChunkStore();
            var rows = Enumerable.Range(0, 12).Select(i => Row(scenarios, i)).ToList();
            await store.UpsertAsync([.. rows.Select(r => new StoredChunk(r, DeterministicEmbedder.RandomUnitVector(random, 8)))], CancellationToken.None);
            var broker = new RetrievalBroker(new Directory(user, agent), policy, store, new DeterministicEmbedder(8), new InMemoryAuditLog(), new QueryHasher(new byte[32]), destinations: TestDestinations.Open(policy.Labels));

            var result = await broker.RetrieveAsync(new RetrievalRequest { Caller = new CallerIdentity(user.Id, agent?.Id), Query = "q", Top = 12, Destination = destination }, CancellationToken.None);

            foreach (var released in result.Chunks)
            {
                var stored = rows.Single(r => r.Id == released.Chunk.Id);
                foreach (var (field, value) in stored.Fields!)
                {
                    var clear = value.GetString()!;
                    var fieldLabel = labels.Get(stored.Schema!.Fields[field].Label);
                    var cleared = PolicyOracle.Allows(policy, caller, request, stored.ResourceAttributes.With("label", [fieldLabel.ToAttributeValue()]));
                    var op = StrictestOperator(policy, caller, request, stored.ResourceAttributes, field);
                    var visible = cleared && op == "keep";
                    checkedFields++;
                    if (visible)
                    {
                        Assert.Equal(clear, released.Chunk.Fields![field].GetString());
                        Assert.Contains(clear, released.Chunk.Text, StringComparison.Ordinal);
                    }
                    else
                    {
                        Assert.False(
                            released.Chunk.Fields!.TryGetValue(field, out var leaked) && leaked.GetString() == clear,
                            $"seed {seed}: field {field} ({fieldLabel}, {op}, cleared={cleared}) leaked in fields");
                        Assert.DoesNotContain(clear, released.Chunk.Text, StringComparison.Ordinal);
                    }
                }
            }

            AssertAuditListsWithheldFields(result);
        }

        Assert.True(checkedFields > 5000, $"only {checkedFields} field checks ran");
    }

    private static void AssertAuditListsWithheldFields(RetrievalResult result)
    {
        foreach (var (audited, released) in result.Record.Chunks.Zip(result.Chunks))
        {
            var json = JsonSerializer.Serialize(audited, AuditJsonContext.Default.AuditedChunk);
            foreach (var (_, value) in released.Chunk.Fields ?? ImmutableDictionary<string, JsonElement>.Empty)
            {
                Assert.DoesNotContain(value.GetString()!, json, StringComparison.Ordinal);
            }

            foreach (var field in FieldNames.Where(f => released.Chunk.Fields is not null && !released.Chunk.Fields.ContainsKey(f)))
            {
                Assert.True(audited.FieldsWithheld?.ContainsKey(field), $"{audited.ChunkId}: {field} withheld but not audited");
            }
        }
    }

    private static string StrictestOperator(PolicyBundle policy, CallerPrincipals caller, AttributeSet request, AttributeSet resource, string field)
    {
        string[] order = ["keep", "generalize", "mask", "hash", "drop"];
        var strictest = "keep";
        foreach (var obligation in policy.Obligations)
        {
            if (!obligation.Fields.TryGetValue(field, out var op))
            {
                continue;
            }

            var applies = PolicyOracle.Eval(obligation.Condition, Augment(caller.Subject), request, resource) == true
                          || (caller.Actor is not null && PolicyOracle.Eval(obligation.Condition, Augment(caller.Actor), request, resource) == true);
            if (applies && Array.IndexOf(order, op.Name) > Array.IndexOf(order, strictest))
            {
                strictest = op.Name;
            }
        }

        return strictest;
    }

    private static Dictionary<string, ImmutableArray<AttributeValue>> Augment(Principal principal)
    {
        var map = principal.Attributes.ToDictionary(static p => p.Key, static p => p.Value);
        map["id"] = [AttributeValue.FromString(principal.Id)];
        map["kind"] = [AttributeValue.FromString(principal.Kind.ToString().ToLowerInvariant())];
        return map;
    }

    private static Chunk Row(RandomScenarios scenarios, int index)
    {
        var random = scenarios.Random;
        var labels = LabelTaxonomy.Default;
        var values = FieldNames.ToImmutableDictionary(f => f, f => JsonSerializer.SerializeToElement($"tok{index:D2}{f}x{random.Next(100000, 999999)}"));
        var schema = new RowSchema(
            string.Join(" | ", FieldNames.Select(f => $"{f}={{{f}}}")),
            FieldNames.ToImmutableDictionary(f => f, _ => new FieldSchema("string", labels.Labels[random.Next(labels.Labels.Length)].Name)));
        var chunk = scenarios.Chunk(index);
        return chunk with
        {
            Fields = values,
            Schema = schema,
            Text = Ingestion.CorpusReader.Render(schema.TextTemplate, values),
        };
    }

    private static string Yaml(string expression) => "'" + expression.Replace("'", "''", StringComparison.Ordinal) + "'";

    private sealed class Directory(Principal user, Principal? agent) : IEntitlementProvider
    {
        public ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken) =>
            ValueTask.FromResult(principalId == user.Id ? user : principalId == agent?.Id ? agent : null);
    }
}
