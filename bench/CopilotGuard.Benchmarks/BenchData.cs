using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using CopilotGuard.Anonymization;
using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labeling;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;

namespace CopilotGuard.Benchmarks;

/// <summary>Inputs shared by the policy, filter, release and pipeline benchmarks: the sample Contoso bundle and directory,
/// generated bundles, principals with large entitlements, and 1 KB chunks.</summary>
internal static class BenchData
{
    private static readonly Lazy<string> s_samples = new(FindSamples);
    private static readonly Lazy<LabelingPolicy> s_labeling = new(() => LabelFile.Parse("labels.yaml", File.ReadAllText(Path.Combine(Samples, "labels.yaml"))));
    private static readonly Lazy<DirectoryFile> s_directory = new(() => DirectoryFile.Parse("directory.yaml", File.ReadAllText(Path.Combine(Samples, "directory.yaml")), Labels));

    /// <summary>Gets the repository's <c>samples</c> folder (found by walking up from the binaries, which BenchmarkDotNet moves).</summary>
    public static string Samples => s_samples.Value;

    public static LabelingPolicy Labeling => s_labeling.Value;

    public static LabelTaxonomy Labels => Labeling.Taxonomy;

    public static DirectoryFile Directory => s_directory.Value;

    public static AttributeSet Internal { get; } = RetrievalBroker.RequestAttributes(null, "internal");

    public static AttributeSet External { get; } = RetrievalBroker.RequestAttributes(null, null);

    public static Principal Person(string id) =>
        Directory.Principals.FirstOrDefault(p => p.Id == id) ?? throw new InvalidOperationException($"{id} is not in the sample directory.");

    /// <summary>The runtime's anonymizer set-up: default recognizers plus a dictionary of the directory's people, random keys.</summary>
    public static Anonymizer SampleAnonymizer()
    {
        var names = Directory.Principals
            .Where(static p => p.Kind == PrincipalKind.User && p.DisplayName is not null)
            .Select(static p => (p.DisplayName!, EntityTypes.Person, (string?)p.Id))
            .ToList();
        return new Anonymizer(
            EntityAnalyzer.CreateDefault(DictionaryRecognizer.Create(names)),
            AnonymizerKeys.CreateRandom(),
            new InMemoryPseudonymVault(RandomNumberGenerator.GetBytes(32), TimeSpan.FromHours(24)));
    }

    /// <summary>The sample bundle (<c>samples/policies/contoso.yaml</c>, 16 rules, 6 obligations).</summary>
    public static PolicyBundle Contoso() => new PolicyLoader(Labels).Load([("contoso.yaml", File.ReadAllText(Path.Combine(Samples, "policies", "contoso.yaml")))]);

    /// <summary>The sample bundle plus generated department, project and legal-hold rules, <paramref name="ruleCount"/> rules in all.</summary>
    /// <remarks>Shaped like a grown deployment: most rules are gated on principal attributes, so partial evaluation
    /// folds them to <c>false</c> and only a handful reach the residual.</remarks>
    public static PolicyBundle ContosoGrown(int ruleCount)
    {
        var contoso = File.ReadAllText(Path.Combine(Samples, "policies", "contoso.yaml"));
        var version = contoso.Split('\n').First(static line => line.StartsWith("version:", StringComparison.Ordinal))["version:".Length..].Trim();
        var existing = Contoso().Rules.Length;
        var extra = new StringBuilder().Append("apiVersion: copilotguard/v1\nversion: ").Append(version).Append("\nrules:\n");
        for (var i = 0; i < ruleCount - existing; i++)
        {
            var n = i.ToString(CultureInfo.InvariantCulture);
            _ = (i % 4) switch
            {
                0 => extra.Append("  - id: dept-").Append(n).Append("\n    effect: allow\n    when: resource.source == \"dept-").Append(n).Append("\" && principal.department == \"Dept").Append(n).Append("\"\n"),
                1 => extra.Append("  - id: project-").Append(n).Append("\n    effect: allow\n    when: resource.source == \"projects\" && resource.project in principal.projects && \"team-").Append(n).Append("\" in principal.groups\n"),
                2 => extra.Append("  - id: region-").Append(n).Append("\n    effect: allow\n    when: resource.source == \"sales-").Append(n).Append("\" && resource.region == principal.region && resource.label <= principal.clearance\n"),
                _ => extra.Append("  - id: hold-").Append(n).Append("\n    effect: deny\n    when: resource.tags == \"legal-hold-").Append(n).Append("\" && !(\"legal\" in principal.roles)\n"),
            };
        }

        return new PolicyLoader(Labels).Load([("contoso.yaml", contoso), ("generated.yaml", extra.ToString())]);
    }

    /// <summary>A copy of a sample person whose <c>accounts</c>, <c>patients</c> and <c>groups</c> each hold <paramref name="size"/> values.</summary>
    public static Principal WithEntitlements(Principal person, int size)
    {
        ArgumentNullException.ThrowIfNull(person);
        var attributes = person.Attributes;
        foreach (var (name, prefix) in new[] { ("accounts", "account-"), ("patients", "p-"), ("groups", "group-") })
        {
            var values = ImmutableArray.CreateBuilder<AttributeValue>(size);
            if (person.Attributes.TryGet(name, out var own))
            {
                values.AddRange(own.Take(size));
            }

            for (var i = values.Count; i < size; i++)
            {
                values.Add(AttributeValue.FromString(prefix + i.ToString("D5", CultureInfo.InvariantCulture)));
            }

            attributes = attributes.With(name, values.MoveToImmutable());
        }

        return person with { Attributes = attributes };
    }

    /// <summary>A support ticket of about <paramref name="bytes"/> characters of prose with a few entities per KB.</summary>
    public static Chunk SupportChunk(int index, string account, int bytes = 1024) => new()
    {
        Id = $"support-{index:D6}#0",
        DocumentId = $"support-{index:D6}",
        Source = "support",
        Label = Labels.TryGet("Confidential", out var label) ? label : throw new InvalidOperationException("no Confidential label"),
        Title = $"Ticket {index}",
        Text = Corpus.Build(bytes, seed: index)[..bytes],
        Attributes = new AttributeSetBuilder().Add("account", account).Add("tags", "sync").Add("tags", "billing").Build(),
        Subjects = [$"cust-{index % 97}"],
    };

    /// <summary>Chunks read from the sample corpus (labelled as ingestion labels them, without embedding).</summary>
    public static async Task<IReadOnlyList<Chunk>> SampleCorpusAsync()
    {
        var labeler = new ChunkLabeler(Labeling, EntityAnalyzer.CreateDefault());
        return [.. (await new Ingestion.CorpusReader(Labels).ReadAsync(Path.Combine(Samples, "corpus"), CancellationToken.None).ConfigureAwait(false)).Select(labeler.Apply)];
    }

    public static StoredChunk Stored(Chunk chunk, int dimensions = 384) => new(chunk, DeterministicEmbedder.VectorFor(chunk.Id, dimensions));

    private static string FindSamples()
    {
        for (var folder = new DirectoryInfo(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            var candidate = Path.Combine(folder.FullName, "samples");
            if (File.Exists(Path.Combine(candidate, "policies", "contoso.yaml")))
            {
                return candidate;
            }
        }

        throw new DirectoryNotFoundException("The samples folder (samples/policies/contoso.yaml) was not found above " + AppContext.BaseDirectory);
    }
}

/// <summary>Resolves principals from a fixed table (the sample directory, or people with grown entitlements).</summary>
internal sealed class FixedEntitlements(IEnumerable<Principal> principals) : IEntitlementProvider
{
    private readonly Dictionary<string, Principal> _principals = principals.ToDictionary(static p => p.Id, StringComparer.Ordinal);

    public ValueTask<Principal?> ResolveAsync(string principalId, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_principals.GetValueOrDefault(principalId));
}

/// <summary>An in-memory store over a fixed set of chunks: the shared evaluator as native filter and the testing kit's
/// ranking, without the recording of <see cref="InMemoryChunkStore"/> (which keeps every filter it was asked and would
/// grow without bound over millions of benchmark operations).</summary>
internal sealed class FixedChunkStore(IReadOnlyList<StoredChunk> initial) : IChunkStore
{
    private volatile IReadOnlyList<StoredChunk> chunks = initial;

    public string Name => "memory";

    public FilterCapabilities Capabilities => FilterCapabilities.All;

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task UpsertAsync(IReadOnlyList<StoredChunk> added, CancellationToken cancellationToken)
    {
        var ids = added.Select(static c => c.Chunk.Id).ToHashSet(StringComparer.Ordinal);
        chunks = [.. chunks.Where(c => !ids.Contains(c.Chunk.Id)), .. added];
        return Task.CompletedTask;
    }

    public Task<ChunkSearchResult> SearchAsync(ChunkQuery query, CancellationToken cancellationToken)
    {
        var passing = chunks.Where(chunk => FilterEvaluator.Matches(query.Filter, chunk.Chunk.ResourceAttributes));
        var ranked = InMemoryChunkStore.Rank(query.Vector.Span, passing);
        IReadOnlyList<ScoredChunk> page = ranked.Skip(query.Skip).Take(query.Top).ToList();
        return Task.FromResult(new ChunkSearchResult(page, query.Filter.ToString(), ranked.Count <= query.Skip + query.Top));
    }

    public Task<Chunk?> GetAsync(string chunkId, CancellationToken cancellationToken) =>
        Task.FromResult(chunks.FirstOrDefault(c => c.Chunk.Id == chunkId)?.Chunk);

    public Task<long> CountAsync(CancellationToken cancellationToken) => Task.FromResult((long)chunks.Count);

    public string DescribeFilter(FilterNode filter) => filter.ToString();
}

/// <summary>The CPU work of <see cref="InMemoryAuditLog"/> (serialize the record, extend the hash chain under a lock)
/// keeping only the chain head, so a benchmark can append millions of records.</summary>
internal sealed class ChainOnlyAuditLog : IAuditLog
{
    private readonly Lock _lock = new();
    private string _head = AuditChain.Genesis;
    private long _count;

    public long Count => Interlocked.Read(ref _count);

    public Task InitializeAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task<AuditEntry> AppendAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        var payload = AuditJson.Serialize(record);
        lock (_lock)
        {
            _count++;
            _head = AuditChain.Link(_head, _count, payload);
            return Task.FromResult(new AuditEntry(_count, _head, record));
        }
    }

    public Task<AuditEntry?> GetAsync(string recordId, CancellationToken cancellationToken) => Task.FromResult<AuditEntry?>(null);

    public Task<AuditVerification> VerifyAsync(CancellationToken cancellationToken) =>
        Task.FromResult(new AuditVerification(true, _count, _head));
}
