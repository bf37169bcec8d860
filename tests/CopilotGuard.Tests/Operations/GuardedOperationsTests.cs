using System.Collections.Immutable;
using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Testing;
using CopilotGuard.Tests.Identity;
using Microsoft.Extensions.Options;

namespace CopilotGuard.Tests.Operations;

/// <summary>Issue 17: every guarded operation takes the one path. For each operation, a gate's refusal leaves exactly
/// one <c>refused</c> record stamped with the tenant and the policy version, and an audit log that cannot be written
/// releases nothing.</summary>
public sealed class GuardedOperationsTests
{
    private const string Tenant = "tenant-17";

    /// <summary>The operations, by name, with the operation their gates see.</summary>
    private static readonly ImmutableDictionary<string, (string GateOperation, Func<World, Task> Run)> Table = new Dictionary<string, (string, Func<World, Task>)>
    {
        ["retrieve"] = ("retrieve", static w => w.Broker.RetrieveAsync(new RetrievalRequest { Caller = World.Caller, Query = "plan", Destination = "internal" }, CancellationToken.None)),
        ["explain"] = ("policy-explain", static w => w.Broker.ExplainAsync(new ExplainRequest { Requester = World.Caller, ChunkId = World.ChunkId, Destination = "internal" }, CancellationToken.None)),
        ["deanonymize"] = ("deanonymize", static w => w.Broker.DeanonymizeAsync(new DeanonymizeRequest(World.Caller, "conv-1", "Hello <PERSON_1>"), CancellationToken.None)),
        ["relabel"] = ("label-change", static w => w.Broker.SetDocumentLabelAsync(World.Caller, World.DocumentId, "Confidential", CancellationToken.None)),
        ["audit-query"] = (AuditRecordKinds.AuditQuery, static w => w.Audit.GetDocumentAccessesAsync(new AuditRequester(World.Caller), World.DocumentId, new AuditPageRequest(), CancellationToken.None)),
        ["console"] = (AuditRecordKinds.AuditQuery, static w => w.Audit.AuthorizeAsync(new AuditRequester(World.Caller), "console:labels", static _ => true, CancellationToken.None)),
        ["answer-register"] = ("answer-register", static w => w.Audit.RegisterAnswerAsync(World.Caller, new AnswerRegistration { Answer = "The plan.", ReceiptIds = [w.ReceiptId] }, CancellationToken.None)),
    }.ToImmutableDictionary(StringComparer.Ordinal);

    public static TheoryData<string> Operations => [.. Table.Keys.Order(StringComparer.Ordinal)];

    public static TheoryData<string, string> Refusals
    {
        get
        {
            var data = new TheoryData<string, string>();
            foreach (var operation in Table.Keys.Order(StringComparer.Ordinal))
            {
                data.Add(operation, "suspended");
                data.Add(operation, "rate-limited");
            }

            return data;
        }
    }

    [Theory]
    [MemberData(nameof(Refusals))]
    public async Task GateRefuses_OneRefusedRecord_WithTenantAndPolicyVersion(string operation, string refusal)
    {
        var world = await World.CreateAsync();
        var (gateOperation, run) = Table[operation];
        if (refusal == "suspended")
        {
            await world.States.SuspendAsync(new PrincipalSuspension(World.Caller.SubjectId, "test", "sam", DateTimeOffset.UnixEpoch), CancellationToken.None);
        }
        else
        {
            // The window allows one request (see World.CreateAsync): spend it.
            await world.Limiter.CheckAsync(new CallerPrincipals(World.Owner), new AccessRequest("warm-up", null, "internal"), CancellationToken.None);
        }

        var before = world.Log.Entries.Count;
        var exception = await Assert.ThrowsAsync<GuardException>(() => run(world));

        Assert.Equal(refusal == "suspended" ? GuardErrorKind.Forbidden : GuardErrorKind.RateLimited, exception.Kind);
        var record = Assert.Single(world.Log.Entries.Skip(before)).Record;
        Assert.Equal(("refused", refusal == "suspended" ? "forbidden" : "rate-limited", World.Caller.SubjectId), (record.Kind, record.Decision, record.SubjectId));
        Assert.Equal((Tenant, world.Policy.Version, world.Policy.Sha256), (record.Tenant, record.PolicyVersion, record.PolicyHash));
        Assert.StartsWith($"operation:{gateOperation} gate:{(refusal == "suspended" ? nameof(SuspensionGate) : nameof(RateLimiter))}", record.Target, StringComparison.Ordinal);
        Assert.Equal(0, world.Reader.Reads);
    }

    [Theory]
    [MemberData(nameof(Operations))]
    public async Task AuditAppendFails_ReleasesNothing_ThenHealthyRunIsStamped(string operation)
    {
        var world = await World.CreateAsync(requestsPerWindow: 10);
        var run = Table[operation].Run;
        var before = world.Log.Entries.Count;
        world.Log.Fail = true;

        var exception = await Assert.ThrowsAsync<GuardException>(() => run(world));

        Assert.Equal(GuardErrorKind.AuditUnavailable, exception.Kind);
        Assert.Equal(before, world.Log.Entries.Count);
        Assert.Equal(0, world.Reader.Reads);
        Assert.Equal("General", Assert.Single(await world.Store.GetDocumentAsync(World.DocumentId, CancellationToken.None)).Label.Name);

        // Healthy again: the same operation writes one record, stamped like every other (de-anonymization is refused
        // by this policy, and that refusal is its record).
        world.Log.Fail = false;
        try
        {
            await run(world);
        }
        catch (GuardException refused) when (operation == "deanonymize" && refused.Kind == GuardErrorKind.Forbidden)
        {
        }

        var record = Assert.Single(world.Log.Entries.Skip(before)).Record;
        Assert.Equal((Tenant, world.Policy.Version, World.Caller.SubjectId), (record.Tenant, record.PolicyVersion, record.SubjectId));
    }

    /// <summary>A broker and an audit service wired as the runtime wires them: one pipeline, a suspension gate and a
    /// rate limiter, one owned document, and a receipt of the caller's to bind answers to.</summary>
    private sealed class World
    {
        public const string DocumentId = "d1";
        public const string ChunkId = "d1#0";

        public static readonly CallerIdentity Caller = new("owner");

        public static readonly Principal Owner = People.User("owner", "Support", ("roles", "compliance-officer"));

        private World(PolicyBundle policy, InMemoryChunkStore store, InMemoryAuditLog log, InMemoryPrincipalStateStore states, RateLimiter limiter, CountingAuditReader reader)
        {
            (Policy, Store, Log, States, Limiter, Reader) = (policy, store, log, states, limiter, reader);
            Broker = new RetrievalBroker(
                new FakeEntitlementProvider { Resolve = static id => id == Owner.Id ? Owner : null },
                policy,
                store,
                new DeterministicEmbedder(),
                log,
                new QueryHasher(new byte[32]),
                Options.Create(new RetrievalBrokerOptions { Tenant = Tenant }),
                gates: [new SuspensionGate(states), limiter],
                destinations: TestDestinations.Standard(policy.Labels));
            Audit = new AuditService(log, reader, Broker.Operations);
        }

        public PolicyBundle Policy { get; }

        public InMemoryChunkStore Store { get; }

        public InMemoryAuditLog Log { get; }

        public InMemoryPrincipalStateStore States { get; }

        public RateLimiter Limiter { get; }

        public CountingAuditReader Reader { get; }

        public RetrievalBroker Broker { get; }

        public AuditService Audit { get; }

        public string ReceiptId { get; private set; } = string.Empty;

        public static async Task<World> CreateAsync(int requestsPerWindow = 1)
        {
            var policy = new PolicyLoader(LabelTaxonomy.Default).Load([("p.yaml", "apiVersion: copilotguard/v1\nversion: \"17\"\nrules:\n  - id: all\n    effect: allow\n    when: \"true\"\n")]);
            var store = new InMemoryChunkStore();
            var chunk = new Chunk { Id = ChunkId, DocumentId = DocumentId, Source = "kb", Label = LabelTaxonomy.Default.Get("General"), Text = "The plan.", Attributes = new AttributeSetBuilder().Add("owner", Owner.Id).Build() };
            await store.UpsertAsync([new StoredChunk(chunk, DeterministicEmbedder.VectorFor(ChunkId))], CancellationToken.None);
            var limiter = new RateLimiter(Options.Create(new RateLimitOptions
            {
                Window = TimeSpan.FromHours(1),
                Principal = new() { RequestsPerWindow = requestsPerWindow, ChunkWeightPerWindow = 1000 },
                Agent = new() { RequestsPerWindow = requestsPerWindow, ChunkWeightPerWindow = 1000 },
            }), new ManualClock());
            var world = new World(policy, store, new InMemoryAuditLog(), new InMemoryPrincipalStateStore(), limiter, new CountingAuditReader());

            // A receipt of the caller's, appended as retrieval appends it, without spending the caller's rate limit.
            var receipt = world.Broker.Operations.NewRecord(AuditRecordKinds.Retrieval, new CallerPrincipals(Owner), "all") with
            {
                Chunks = [new AuditedChunk { ChunkId = ChunkId, DocumentId = DocumentId, Version = 1, ContentSha256 = "x", Label = "General", Score = 1, Subjects = [] }],
            };
            world.ReceiptId = (await world.Broker.Operations.AppendAsync(receipt, CancellationToken.None)).Record.RecordId;
            return world;
        }
    }

    /// <summary>An audit reader that answers with nothing and counts how often it was read.</summary>
    private sealed class CountingAuditReader : IAuditReader
    {
        private int _reads;

        public int Reads => _reads;

        public IAsyncEnumerable<StoredAuditEntry> ReadAsync(long afterSequence, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _reads);
            return AsyncEnumerable.Empty<StoredAuditEntry>();
        }

        public Task<IReadOnlyList<AuditCheckpoint>> GetCheckpointsAsync(CancellationToken cancellationToken) => Read<IReadOnlyList<AuditCheckpoint>>([]);

        public Task<AuditPage> GetDocumentAccessesAsync(string documentId, AuditPageRequest page, CancellationToken cancellationToken) => Read(new AuditPage([], null));

        public Task<AuditPage> GetSubjectAccessesAsync(string subjectId, AuditPageRequest page, CancellationToken cancellationToken) => Read(new AuditPage([], null));

        public Task<IReadOnlyList<AuditEntry>> GetAnswersForReceiptAsync(string receiptId, CancellationToken cancellationToken) => Read<IReadOnlyList<AuditEntry>>([]);

        private Task<T> Read<T>(T result)
        {
            Interlocked.Increment(ref _reads);
            return Task.FromResult(result);
        }
    }
}
