using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using CopilotGuard.Cli;

namespace CopilotGuard.Server.Tests.Policy;

/// <summary>Issue 15's reproduction, end to end: a data owner marks a knowledge-base document <c>restricted: true</c>
/// and <c>clearance_level: 5</c> in its front matter, the bundle denies both, the document is ingested with
/// <c>copilotguard ingest</c>, and carol asks for it over HTTP.</summary>
/// <remarks>Before typed attributes the front matter was stored as the strings "true" and "5", both deny rules compared
/// a string with a boolean or a number, were false instead of undecided, and carol received the chunk.</remarks>
public sealed class TypedDenyRegressionTests(TypedDenyRegressionTests.RestrictedBundleServer server) : IClassFixture<TypedDenyRegressionTests.RestrictedBundleServer>
{
    /// <summary>The real server over a data folder seeded with the samples, whose bundle adds the report's two deny rules
    /// and whose attribute schema declares the attributes they read; the restricted document is then ingested with
    /// <c>copilotguard ingest</c>, as the data owner would run it beside the server.</summary>
    public sealed class RestrictedBundleServer : StoreServerFixture
    {
        private const string MergerPlan = """
            ---
            id: kb-merger-plan
            title: Project Falcon merger plan
            label: General
            restricted: true
            clearance_level: 5
            ---
            Project Falcon merger plan: the board approved the acquisition timeline, the integration budget and the
            communication plan for Project Falcon. The merger plan stays with the deal team until the announcement.
            """;

        private readonly string _corpus = Directory.CreateTempSubdirectory("copilotguard-typed-corpus-").FullName;

        public override string StoreName => "sqlite";

        /// <summary>Ingests the corpus holding the restricted document into the running server's data folder.</summary>
        public async Task IngestAsync()
        {
            var exit = await CliApp.Build().Parse(["ingest", _corpus, "--data", DataPath]).InvokeAsync();
            Assert.Equal(0, exit);
        }

        protected override async Task<string[]> StartProvidersAsync()
        {
            // The sample bundle plus the two deny rules of the report; the rest of the folder is seeded from the samples.
            var policies = Directory.CreateDirectory(Path.Combine(DataPath, "policies")).FullName;
            foreach (var file in Directory.EnumerateFiles(Path.Combine(AppContext.BaseDirectory, "samples", "policies"), "*.yaml"))
            {
                File.Copy(file, Path.Combine(policies, Path.GetFileName(file)));
            }

            await File.WriteAllTextAsync(Path.Combine(policies, "restricted.yaml"), """
                apiVersion: copilotguard/v1
                version: "2026.11.28"
                rules:
                  - { id: deny-restricted, effect: deny, when: resource.restricted == true }
                  - { id: deny-high-clearance-docs, effect: deny, when: resource.clearance_level > 3 }
                """);

            // The data owner declares the two attributes in the attribute schema, as a bundle reading them requires.
            var attributes = await File.ReadAllTextAsync(Path.Combine(AppContext.BaseDirectory, "samples", "attributes.yaml"));
            await File.WriteAllTextAsync(Path.Combine(DataPath, "attributes.yaml"), attributes.Replace("resource:\n", "resource:\n  restricted: boolean\n  clearance_level: number\n", StringComparison.Ordinal));

            // A kb source folder holding the restricted document only (the sample kb documents stay as seeded).
            var kb = Directory.CreateDirectory(Path.Combine(_corpus, "kb")).FullName;
            await File.WriteAllTextAsync(Path.Combine(kb, "source.yaml"), "source: kb\ndisplayName: Knowledge Base\nlabel: General\nowner: kb-team\ndepartment: Support\n");
            await File.WriteAllTextAsync(Path.Combine(kb, "kb-merger-plan.md"), MergerPlan);
            return [];
        }

        protected override Task StopProvidersAsync()
        {
            Directory.Delete(_corpus, recursive: true);
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task Retrieve_RestrictedDocumentWithTypedFrontMatter_IsDeniedToCarol()
    {
        await server.IngestAsync();
        var chunk = await server.Runtime.Store.GetAsync("kb-merger-plan#0", CancellationToken.None);
        Assert.NotNull(chunk);
        Assert.True(chunk.Attributes.TryGet("restricted", out var restricted));
        Assert.Equal(Filtering.AttributeKind.Boolean, Assert.Single(restricted).Kind);
        Assert.True(chunk.Attributes.TryGet("clearance_level", out var level));
        Assert.Equal(Filtering.AttributeKind.Number, Assert.Single(level).Kind);

        var body = await PostAsync("/v1/retrieve", "carol", new { query = "Project Falcon merger plan", top = 20, destination = "internal" });
        var ids = body.GetProperty("chunks").EnumerateArray().Select(static c => c.GetProperty("documentId").GetString()).ToList();

        // The deny rules read attributes the other documents lack, and a deny rule that cannot be decided denies: with
        // these rules as written, carol gets nothing at all (guarding them with has(...) would scope them to the plan).
        Assert.DoesNotContain("kb-merger-plan", ids);
        Assert.Empty(ids);
    }

    [Fact]
    public async Task Explain_RestrictedDocument_ShowsBothDenyRulesMatched()
    {
        await server.IngestAsync();
        // Carol's own explanation says only "not visible" (it never confirms a chunk exists); cora, a compliance
        // officer, asks for carol's view and gets the rules.
        var body = await PostAsync("/v1/policy/explain", "cora", new { chunkId = "kb-merger-plan#0", user = "carol", destination = "internal" });

        Assert.False(body.GetProperty("visible").GetBoolean());
        var text = body.GetRawText();
        Assert.Contains("deny-restricted", text, StringComparison.Ordinal);
        Assert.Contains("deny-high-clearance-docs", text, StringComparison.Ordinal);
        foreach (var rule in (string[])["deny-restricted", "deny-high-clearance-docs"])
        {
            var outcomes = Rules(body, rule);
            Assert.False(string.IsNullOrEmpty(outcomes), $"the explanation lists {rule}");
            Assert.Contains("\"match\":\"matched\"", outcomes, StringComparison.Ordinal);
        }
    }

    private static string Rules(JsonElement explanation, string ruleId) =>
        string.Join("\n", Descendants(explanation)
            .Where(e => e.ValueKind == JsonValueKind.Object && e.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String
                && id.GetString() == ruleId && e.TryGetProperty("match", out _))
            .Select(static e => e.GetRawText()));

    private static IEnumerable<JsonElement> Descendants(JsonElement element)
    {
        yield return element;
        var children = element.ValueKind switch
        {
            JsonValueKind.Object => element.EnumerateObject().Select(static p => p.Value),
            JsonValueKind.Array => element.EnumerateArray(),
            _ => [],
        };
        foreach (var child in children)
        {
            foreach (var descendant in Descendants(child))
            {
                yield return descendant;
            }
        }
    }

    private async Task<JsonElement> PostAsync(string path, string user, object body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(path, UriKind.Relative)) { Content = JsonContent.Create(body) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", server.Token(user));
        using var response = await server.Client.SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.OK, text);
        return JsonDocument.Parse(text).RootElement.Clone();
    }
}
