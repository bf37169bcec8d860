using CopilotGuard.Anonymization;
using CopilotGuard.Filtering;
using CopilotGuard.Ingestion;
using CopilotGuard.Labeling;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Tests.Policy;

namespace CopilotGuard.Tests.Labeling;

public sealed class LabelingTests
{
    private static readonly string Samples = Path.Combine(PolicyBundleTests.FindRoot(), "samples");

    [Fact]
    public async Task LoadAsync_SampleLabels_HasSublabelsPurviewIdsAndRules()
    {
        var labeling = await LabelFile.LoadAsync(Path.Combine(Samples, "labels.yaml"), CancellationToken.None);

        Assert.Equal(["Public", "General", "Confidential", "Highly Confidential"], labeling.Taxonomy.Labels.Where(static l => l.Parent is null).Select(static l => l.Name));
        var finance = labeling.Taxonomy.Get("Confidential/Finance");
        Assert.Equal(labeling.Taxonomy.Get("Confidential").Rank, finance.Rank);
        Assert.True(labeling.Taxonomy.TryGetByPurviewId("6C0A1F8E-6F0E-4A3B-9D7E-1B2C3D4E5F14", out var patient));
        Assert.Equal("Highly Confidential/Patient Data", patient.Name);
        Assert.NotEmpty(labeling.Rules);
        Assert.Contains(EntityTypes.UsSsn, labeling.ElevationEntities);
    }

    [Fact]
    public void Parse_InvalidFile_ListsEveryProblem()
    {
        var exception = Assert.Throws<PolicyValidationException>(() => LabelFile.Parse("labels.yaml", """
            apiVersion: copilotguard/v1
            labels:
              - name: Public
                color: green
              - name: Secret
                purviewId: not-a-guid
              - name: Public
            rules:
              - id: r1
                when: resource.source == "hr"
                label: Top Secret
            shades: []
            """));
        var messages = string.Join("\n", exception.Errors);
        Assert.Contains("color must look like #rrggbb", messages, StringComparison.Ordinal);
        Assert.Contains("purviewId must be a GUID", messages, StringComparison.Ordinal);
        Assert.Contains("listed twice", messages, StringComparison.Ordinal);
        Assert.Contains("unknown field 'shades'", messages, StringComparison.Ordinal);
    }

    [Fact]
    public void Apply_RuleAndHighRiskEntities_RaiseTheLabelWithTheReason_AndNeverLowerIt()
    {
        var labeling = LabelFile.Parse("labels.yaml", """
            apiVersion: copilotguard/v1
            labels: [{ name: Public }, { name: General }, { name: Confidential }, { name: Highly Confidential }]
            rules:
              - id: hr-is-confidential
                when: resource.source == "hr"
                label: Confidential
            autoElevation: { label: Highly Confidential, entities: [US_SSN, CREDIT_CARD] }
            """);
        var labeler = new ChunkLabeler(labeling, EntityAnalyzer.CreateDefault());
        var taxonomy = labeling.Taxonomy;
        Chunk Make(string source, string label, string text) => new() { Id = "c", DocumentId = "d", Source = source, Label = taxonomy.Get(label), Text = text };

        var byRule = labeler.Apply(Make("hr", "General", "The parental leave policy."));
        var bySsn = labeler.Apply(Make("kb", "Public", "Employee SSN 536-22-1234 was updated."));
        var byInvalidCard = labeler.Apply(Make("kb", "Public", "Order number 4111 1111 1111 1112 shipped."));
        var notLowered = labeler.Apply(Make("hr", "Highly Confidential", "Case notes."));

        Assert.Equal("Confidential", byRule.Label.Name);
        Assert.True(byRule.Attributes.TryGet(ChunkLabeler.ReasonAttribute, out var ruleReason));
        Assert.Equal("rule:hr-is-confidential", Assert.Single(ruleReason).Text);
        Assert.Equal("Highly Confidential", bySsn.Label.Name);
        Assert.True(bySsn.Attributes.TryGet(ChunkLabeler.ReasonAttribute, out var entityReason));
        Assert.Equal("entity:US_SSN", Assert.Single(entityReason).Text);
        Assert.Equal("Public", byInvalidCard.Label.Name);
        Assert.Equal("Highly Confidential", notLowered.Label.Name);
    }

    [Fact]
    public void ReadDocument_PurviewLabelId_MapsOntoTheTaxonomy_AndUnknownIdsAreRejected()
    {
        var labeling = LabelFile.Parse("labels.yaml", File.ReadAllText(Path.Combine(Samples, "labels.yaml")));
        var reader = new CorpusReader(labeling.Taxonomy);
        const string document = "---\nid: doc-1\npurviewLabelId: 6c0a1f8e-6f0e-4a3b-9d7e-1b2c3d4e5f13\n---\nQuarterly numbers.";

        var chunk = Assert.Single(reader.ReadDocument("doc-1.md", document, "finance", labeling.Taxonomy.Get("General"), new AttributeSetBuilder()));

        Assert.Equal("Confidential/Finance", chunk.Label.Name);
        Assert.Throws<IngestionException>(() => reader.ReadDocument("doc-2.md", document.Replace("5f13", "ffff", StringComparison.Ordinal), "finance", labeling.Taxonomy.Get("General"), new AttributeSetBuilder()).ToList());
    }
}

public sealed class RowLabelTests
{
    [Fact]
    public async Task ReadAsync_RowWithALabelField_GetsThatLabel_AndTheFieldIsNotReturned()
    {
        var folder = Directory.CreateTempSubdirectory("copilotguard-rows-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(folder, "source.yaml"), "source: deals\nlabel: General\n");
            File.WriteAllText(Path.Combine(folder, "schema.yaml"), """
                source: deals
                idField: id
                labelField: sensitivity
                textTemplate: "Deal {id} worth {amount}"
                fields:
                  - { name: id, type: string, label: General }
                  - { name: amount, type: number, label: Confidential }
                  - { name: sensitivity, type: string, label: General }
                """);
            File.WriteAllText(Path.Combine(folder, "rows.jsonl"), """
                {"id":"d-1","amount":10,"sensitivity":"Highly Confidential"}
                {"id":"d-2","amount":20}
                {"id":"d-3","amount":30,"sensitivity":"Top Secret"}
                """);
            var reader = new CorpusReader(LabelTaxonomy.Default);
            var exception = await Assert.ThrowsAsync<IngestionException>(() => reader.ReadAsync(folder, CancellationToken.None));
            Assert.Contains("rows.jsonl:3", exception.Message, StringComparison.Ordinal);
            Assert.Contains("Top Secret", exception.Message, StringComparison.Ordinal);

            File.WriteAllText(Path.Combine(folder, "rows.jsonl"), "{\"id\":\"d-1\",\"amount\":10,\"sensitivity\":\"Highly Confidential\"}\n{\"id\":\"d-2\",\"amount\":20}\n");
            var chunks = await reader.ReadAsync(folder, CancellationToken.None);

            Assert.Equal(["Highly Confidential", "General"], chunks.Select(static c => c.Label.Name));
            Assert.All(chunks, static c => Assert.False(c.Fields!.ContainsKey("sensitivity")));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
