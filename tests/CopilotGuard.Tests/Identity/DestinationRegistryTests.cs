using CopilotGuard.Anonymization;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Obligations;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Tests.Policy;

namespace CopilotGuard.Tests.Identity;

/// <summary>destinations.yaml: parsing, resolution of unregistered destinations, ceilings and required anonymization.</summary>
public sealed class DestinationRegistryTests
{
    private static readonly LabelTaxonomy Labels = LabelTaxonomy.Default;

    private static DestinationRegistry Sample() =>
        DestinationRegistry.Parse("destinations.yaml", File.ReadAllText(Path.Combine(PolicyBundleTests.FindRoot(), "samples", "destinations.yaml")), Labels);

    [Fact]
    public void Parse_SampleFile_InternalIsHighlyConfidentialAndEverythingExternalIsGeneral()
    {
        var registry = Sample();

        Assert.Equal("Highly Confidential", registry.Resolve("internal").Ceiling.Name);
        Assert.Equal(DestinationKind.Internal, registry.Resolve("internal").Kind);
        Assert.All(registry.Destinations.Where(static d => d.Kind == DestinationKind.External), static d => Assert.Equal("General", d.Ceiling.Name));
        Assert.Equal("westeurope", registry.Resolve("azure-openai-eu").Region);
        Assert.IsType<PseudonymizeOperator>(registry.Resolve("external").Anonymization["PERSON"]);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("some-vendor")]
    [InlineData("INTERNAL")]
    public void Resolve_UndeclaredOrUnregistered_IsTheMostRestrictiveRegisteredDestination(string? requested)
    {
        var registry = Sample();

        var destination = registry.Resolve(requested);

        Assert.Equal("external", destination.Id);
        Assert.Equal("General", destination.Ceiling.Name);
    }

    [Fact]
    public void MostRestrictive_LowestCeilingWins_ThenExternalBeforeInternal()
    {
        var registry = DestinationRegistry.Parse("d.yaml", """
            apiVersion: copilotguard/v1
            destinations:
              - { id: a-internal, kind: internal, ceiling: Public }
              - { id: b-external, kind: external, ceiling: Public }
              - { id: c-external, kind: external }
            """, Labels);

        Assert.Equal("b-external", registry.MostRestrictive.Id);
        Assert.Equal("b-external", registry.Resolve("nowhere").Id);
        Assert.Equal("General", registry.Resolve("c-external").Ceiling.Name);
    }

    [Fact]
    public void BuiltIn_WithoutAFile_EverythingIsExternalGeneral()
    {
        var registry = DestinationRegistry.BuiltIn(Labels);

        Assert.Equal(("external", DestinationKind.External, "General"), (registry.Resolve("internal").Id, registry.Resolve("internal").Kind, registry.Resolve("internal").Ceiling.Name));
        Assert.Single(registry.Destinations);
    }

    [Fact]
    public async Task LoadAsync_MissingFile_IsTheBuiltIn()
    {
        var registry = await DestinationRegistry.LoadAsync(Path.Combine(Path.GetTempPath(), Guid.NewGuid().ToString("N"), "destinations.yaml"), Labels, CancellationToken.None);

        Assert.Equal("external", registry.Resolve("internal").Id);
    }

    [Fact]
    public void Parse_ExternalCeilingAboveGeneral_IsRefusedUnlessExplicitlyAllowed()
    {
        const string Entries = """
            destinations:
              - { id: vendor, kind: external, ceiling: Confidential }
              - { id: lower, kind: external, ceiling: Public }
            """;

        var exception = Assert.Throws<PolicyValidationException>(() => DestinationRegistry.Parse("d.yaml", "apiVersion: copilotguard/v1\n" + Entries, Labels));
        Assert.Contains(exception.Errors, static e => e.Message.Contains("'vendor'", StringComparison.Ordinal) && e.Message.Contains("allowExternalCeilingAbove", StringComparison.Ordinal));
        Assert.DoesNotContain(exception.Errors, static e => e.Message.Contains("'lower'", StringComparison.Ordinal));

        var allowed = DestinationRegistry.Parse("d.yaml", "apiVersion: copilotguard/v1\nallowExternalCeilingAbove: true\n" + Entries, Labels);
        Assert.Equal("Confidential", allowed.Resolve("vendor").Ceiling.Name);
        Assert.Equal("Public", allowed.Resolve("lower").Ceiling.Name);
    }

    [Fact]
    public void Parse_InvalidEntries_ReportsEveryProblem()
    {
        var exception = Assert.Throws<PolicyValidationException>(() => DestinationRegistry.Parse("d.yaml", """
            apiVersion: copilotguard/v1
            allowExternalCeilingAbove: perhaps
            destinations:
              - { id: a, kind: internal }
              - { id: b, kind: partner, ceiling: General }
              - { id: c, kind: external, ceiling: Secret }
              - { id: d, kind: external, anonymization: { PERSON: scramble } }
              - { id: e, kind: external, colour: blue }
              - { id: e, kind: external }
            """, Labels));

        var messages = exception.Errors.Select(static e => e.Message).ToList();
        Assert.Contains(messages, static m => m.Contains("allowExternalCeilingAbove must be true or false", StringComparison.Ordinal));
        Assert.Contains(messages, static m => m.Contains("'a': an internal destination must state its ceiling", StringComparison.Ordinal));
        Assert.Contains(messages, static m => m.Contains("'b': kind must be internal or external", StringComparison.Ordinal));
        Assert.Contains(messages, static m => m.Contains("unknown sensitivity label 'Secret'", StringComparison.Ordinal));
        Assert.Contains(messages, static m => m.Contains("Unknown anonymization operator 'scramble'", StringComparison.Ordinal));
        Assert.Contains(messages, static m => m.Contains("unknown field 'colour'", StringComparison.Ordinal));
        Assert.Contains(messages, static m => m.Contains("'e' is listed twice", StringComparison.Ordinal));
    }

    [Fact]
    public void Constrain_AddsTheCeilingBelowTheHighestLabel_AndLeavesTheResidualAtTheHighest()
    {
        var registry = Sample();
        var residual = new ComparisonFilter("source", ComparisonOperator.Equal, AttributeValue.FromString("kb"));

        var external = registry.Resolve("external").Constrain(residual, Labels);
        var @internal = registry.Resolve("internal").Constrain(residual, Labels);

        Assert.Same(residual, @internal);
        Assert.True(FilterEvaluator.Matches(external, Resource("kb", "General")));
        Assert.False(FilterEvaluator.Matches(external, Resource("kb", "Confidential")));
        Assert.False(FilterEvaluator.Matches(external, Resource("hr", "Public")));
    }

    [Fact]
    public void ConstrainExplanation_AboveTheCeiling_IsNotVisibleAndSaysWhy()
    {
        var bundle = new PolicyLoader(Labels).Load([("p.yaml", """
            apiVersion: copilotguard/v1
            version: "1"
            rules:
              - { id: all, effect: allow, when: "true" }
            """)]);
        var caller = new CallerPrincipals(new Principal("u", PrincipalKind.User, AttributeSet.Empty));
        var external = Sample().Resolve("external");
        var request = RetrievalBroker.RequestAttributes(null, external.Id);

        var above = external.Constrain(bundle.Explain(caller, request, Resource("kb", "Confidential")), Resource("kb", "Confidential"), Labels);
        var below = external.Constrain(bundle.Explain(caller, request, Resource("kb", "General")), Resource("kb", "General"), Labels);

        Assert.False(above.Visible);
        Assert.Contains("destination 'external' (external) has ceiling General and the resource is Confidential", above.Reason, StringComparison.Ordinal);
        Assert.True(below.Visible);
    }

    [Fact]
    public void Require_RaisesWeakerOperatorsToTheDestinationsAndKeepsStricterOnes()
    {
        var policy = new AnonymizationPolicy
        {
            DefaultOperator = AnonymizationOperator.Keep,
            Operators = new Dictionary<string, AnonymizationOperator>
            {
                ["PERSON"] = AnonymizationOperator.Keep,
                ["EMAIL_ADDRESS"] = AnonymizationOperator.Redact,
                ["PHONE_NUMBER"] = AnonymizationOperator.Keep,
            },
        };
        var required = new Dictionary<string, AnonymizationOperator>
        {
            ["PERSON"] = AnonymizationOperator.Pseudonymize,
            ["EMAIL_ADDRESS"] = AnonymizationOperator.Replace(),
            ["LOCATION"] = AnonymizationOperator.Hash,
            ["default"] = AnonymizationOperator.Mask(),
        };

        var raised = ChunkReleaser.ReleasePlan.Require(policy, required);

        Assert.IsType<PseudonymizeOperator>(raised.OperatorFor("PERSON"));
        Assert.IsType<RedactOperator>(raised.OperatorFor("EMAIL_ADDRESS"));
        Assert.IsType<HashOperator>(raised.OperatorFor("LOCATION"));
        Assert.IsType<MaskOperator>(raised.OperatorFor("PHONE_NUMBER"));
        Assert.IsType<MaskOperator>(raised.OperatorFor("DATE_TIME"));
    }

    [Fact]
    public async Task Release_ToADestinationRequiringRedaction_RedactsWhatTheObligationsWouldKeep()
    {
        var bundle = new PolicyLoader(Labels).Load([("p.yaml", """
            apiVersion: copilotguard/v1
            version: "1"
            rules:
              - { id: all, effect: allow, when: "true" }
            obligations:
              - id: keep-everything
                when: "true"
                entities: { default: keep }
            """)]);
        var strict = DestinationRegistry.Parse("d.yaml", """
            apiVersion: copilotguard/v1
            destinations:
              - { id: internal, kind: internal, ceiling: Highly Confidential }
              - { id: strict, kind: internal, ceiling: Highly Confidential, anonymization: { EMAIL_ADDRESS: redact } }
            """, Labels);
        var releaser = new ChunkReleaser(new Anonymizer(EntityAnalyzer.CreateDefault(), new AnonymizerKeys(new byte[32], new byte[32]), new InMemoryPseudonymVault(new byte[32])), new byte[32]);
        var caller = new CallerPrincipals(new Principal("u", PrincipalKind.User, AttributeSet.Empty));
        var chunk = new Chunk { Id = "kb-1#0", DocumentId = "kb-1", Source = "kb", Label = Labels.Get("General"), Text = "Write to jane.doe@contoso.example today." };

        async Task<string> ReleaseTo(string id)
        {
            var destination = strict.Resolve(id);
            var plan = releaser.Plan(bundle, caller, RetrievalBroker.RequestAttributes(null, id), FilterNode.True, "conv-" + id, destination);
            return (await plan.ReleaseAllAsync([chunk], CancellationToken.None))[0].Chunk.Text;
        }

        Assert.Contains("jane.doe@contoso.example", await ReleaseTo("internal"), StringComparison.Ordinal);
        var released = await ReleaseTo("strict");
        Assert.DoesNotContain("jane.doe", released, StringComparison.Ordinal);
        Assert.DoesNotContain("<EMAIL_ADDRESS", released, StringComparison.Ordinal);
    }

    private static AttributeSet Resource(string source, string label) =>
        new AttributeSetBuilder().Add("source", source).Add("label", Labels.Get(label).ToAttributeValue()).Build();
}
