using CopilotGuard.Audit;
using CopilotGuard.Testing;

namespace CopilotGuard.Connectors.Sqlite.Tests.Audit;

/// <summary>The shared writer over a backend that fails on command: a failed batch fails every append in it and leaves
/// nothing of it behind, and the chain goes on from the last committed entry.</summary>
public sealed class ChainedAuditWriterTests : IDisposable
{
    private readonly TempFolder _folder = new();
    private readonly EcdsaAuditSigner _signer;

    public ChainedAuditWriterTests() => _signer = EcdsaAuditSigner.LoadOrCreate(_folder.File("audit-checkpoint.pem"));

    public void Dispose()
    {
        _signer.Dispose();
        _folder.Dispose();
    }

    [Theory]
    [InlineData("Insert")]
    [InlineData("Checkpoint")]
    [InlineData("Commit")]
    public async Task AppendAsync_BackendFailsMidBatch_FailsEveryAppendOfThatBatchAndLeavesTheLogVerifiable(string failAt)
    {
        var backend = new MemoryAuditBackend();
        await using var writer = new ChainedAuditWriter(backend, new(512, 3, TimeSpan.FromHours(1), AnchorWhenIdle: false), _signer, TimeProvider.System, "test");
        writer.Start();

        // The first batch holds one record and waits in BEGIN, so the next ten queue behind it and form the second batch.
        var first = writer.AppendAsync(AuditLogConformanceTests.Record("a0"), null, CancellationToken.None);
        await backend.BeginEntered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var doomed = Enumerable.Range(0, 10).Select(i => writer.AppendAsync(AuditLogConformanceTests.Record($"b{i}"), null, CancellationToken.None)).ToArray();
        backend.Fail(Enum.Parse<MemoryAuditBackend.FailAt>(failAt), "b5");
        backend.ReleaseBegin.SetResult();

        Assert.Equal(1, (await first).Sequence);
        foreach (var append in doomed)
        {
            var error = await Assert.ThrowsAsync<IOException>(() => append);
            Assert.Equal("simulated failure", error.Message);
        }

        Assert.Single(backend.Entries);
        Assert.Equal(1, writer.Commits);

        // Nothing of the failed batch is in the chain: the next appends follow the committed head, with no gap.
        var next = await Task.WhenAll(Enumerable.Range(0, 4).Select(i => writer.AppendAsync(AuditLogConformanceTests.Record($"c{i}"), null, CancellationToken.None)));
        Assert.Equal(new long[] { 2, 3, 4, 5 }, next.Select(static e => e.Sequence).Order());
        Assert.Equal(5, backend.Checkpoints[^1].TreeSize);

        var verification = await AuditVerifier.VerifyAsync(backend.Entries.ToAsyncEnumerable(), [.. backend.Checkpoints], _signer, CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.Equal(5, verification.Records);
        Assert.DoesNotContain(backend.Entries, static e => e.RecordId.StartsWith('b'));
    }

    [Fact]
    public async Task AppendAsync_SameRecordIdTwiceInABatch_FailsThatBatchOnly()
    {
        var backend = new MemoryAuditBackend();
        await using var writer = new ChainedAuditWriter(backend, new(512, 100, TimeSpan.FromHours(1), AnchorWhenIdle: false), _signer, TimeProvider.System, "test");
        writer.Start();
        var first = writer.AppendAsync(AuditLogConformanceTests.Record("a0"), null, CancellationToken.None);
        await backend.BeginEntered.Task.WaitAsync(TimeSpan.FromSeconds(30));
        var twice = new[] { "x", "y", "x" }.Select(id => writer.AppendAsync(AuditLogConformanceTests.Record(id), null, CancellationToken.None)).ToArray();
        backend.ReleaseBegin.SetResult();

        await first;
        foreach (var append in twice)
        {
            await Assert.ThrowsAsync<InvalidOperationException>(() => append);
        }

        Assert.Equal(2, (await writer.AppendAsync(AuditLogConformanceTests.Record("y"), null, CancellationToken.None)).Sequence);
    }

    /// <summary>An in-memory backend: a transaction buffers its rows and applies them on commit; it fails when told to.</summary>
    internal sealed class MemoryAuditBackend : IAuditBackend
    {
        private FailAt _failAt;
        private string? _failOn;
        private byte[]? _frontier;
        private bool _first = true;

        /// <summary>Where the transaction of a batch holding the marked record fails.</summary>
        public enum FailAt
        {
            /// <summary>On inserting the marked record.</summary>
            Insert,

            /// <summary>On writing the batch's checkpoint (a checkpoint is due in that batch).</summary>
            Checkpoint,

            /// <summary>On commit.</summary>
            Commit,
        }

        public List<StoredAuditEntry> Entries { get; } = [];

        public List<AuditCheckpoint> Checkpoints { get; } = [];

        public TaskCompletionSource BeginEntered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource ReleaseBegin { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool HasDeferredWork => false;

        public void Fail(FailAt failAt, string recordId) => (_failAt, _failOn) = (failAt, recordId);

        public async Task<IAuditWriteTransaction> BeginAsync(CancellationToken cancellationToken)
        {
            if (_first)
            {
                _first = false;
                BeginEntered.SetResult();
                await ReleaseBegin.Task.ConfigureAwait(false);
            }

            var last = Checkpoints.Count == 0 ? null : Checkpoints[^1];
            var head = Entries.Count == 0 ? AuditStoredHead.Empty : AuditStoredHead.Empty with { Head = Entries[^1].Sequence, HeadHash = Entries[^1].Hash };
            return new Transaction(this, head with { CheckpointSize = last?.TreeSize ?? 0, CheckpointTime = last?.Time, Frontier = _frontier });
        }

        public Task<IAuditWriteTransaction> BeginRetentionAsync(CancellationToken cancellationToken) => BeginAsync(cancellationToken);

        public ValueTask ResetAsync() => ValueTask.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;

        public Task<long> ScanCheckpointedAsync(Action<long, string, byte[]> visit, CancellationToken cancellationToken) => throw new NotSupportedException();

        private sealed class Transaction(MemoryAuditBackend backend, AuditStoredHead head) : IAuditWriteTransaction
        {
            private readonly List<StoredAuditEntry> _entries = [];
            private (AuditCheckpoint Checkpoint, byte[] Frontier)? _checkpoint;
            private bool _doomed;

            public AuditStoredHead Head { get; } = head;

            public Task ReadLeavesAsync(MerkleFrontier frontier)
            {
                foreach (var entry in backend.Entries.Where(e => e.Sequence > frontier.Size))
                {
                    frontier.Append(AuditMerkle.LeafHash(entry.Payload.Span));
                }

                return Task.CompletedTask;
            }

            public ValueTask AddEntryAsync(AuditChainedRow row)
            {
                _doomed |= row.Record.RecordId == backend._failOn;
                if (_doomed && backend._failAt == FailAt.Insert)
                {
                    throw new IOException("simulated failure");
                }

                _entries.Add(new StoredAuditEntry(row.Sequence, row.Record.RecordId, row.Payload, row.Hash));
                return ValueTask.CompletedTask;
            }

            public Task IndexAsync(long head, bool complete) => Task.CompletedTask;

            public Task AddCheckpointAsync(AuditCheckpoint checkpoint, MerkleFrontier frontier)
            {
                if (_doomed && backend._failAt == FailAt.Checkpoint)
                {
                    throw new IOException("simulated failure");
                }

                _checkpoint = (checkpoint, frontier.Save());
                return Task.CompletedTask;
            }

            public Task<Dictionary<long, (string RecordId, byte[] Payload)>> ReadLiveAsync(IReadOnlyList<long> sequences, long covered, CancellationToken cancellationToken) => throw new NotSupportedException();

            public Task ExpireAsync(IReadOnlyList<AuditTombstoneRow> tombstones, string subjectId, CancellationToken cancellationToken) => throw new NotSupportedException();

            public Task CommitAsync()
            {
                if (_doomed)
                {
                    // Checkpoint failures must have been reached: every batch of the theory holding the mark has a checkpoint due.
                    Assert.NotEqual(FailAt.Checkpoint, backend._failAt);
                    throw new IOException("simulated failure");
                }

                backend.Entries.AddRange(_entries);
                if (_checkpoint is { } checkpoint)
                {
                    backend.Checkpoints.Add(checkpoint.Checkpoint);
                    backend._frontier = checkpoint.Frontier;
                }

                return Task.CompletedTask;
            }

            public Task RollbackAsync() => Task.CompletedTask;

            public ValueTask DisposeAsync() => ValueTask.CompletedTask;
        }
    }
}
