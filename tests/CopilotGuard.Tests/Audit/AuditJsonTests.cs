using CopilotGuard.Audit;

namespace CopilotGuard.Tests.Audit;

/// <summary>Records written before a list property existed (or with its key damaged) read back with empty lists, never
/// with a default <see cref="System.Collections.Immutable.ImmutableArray{T}"/> that throws when read or written again.</summary>
public sealed class AuditJsonTests
{
    [Fact]
    public void Deserialize_RecordWithoutListKeys_HasEmptyListsThatSerializeAgain()
    {
        var json = """
            {"recordId":"rcpt_1","kind":"retrieval","time":"2026-01-01T00:00:00+00:00","subjectId":"bob","policyVersion":"1",
             "policyHash":"0000000000000000000000000000000000000000000000000000000000000000","decision":"filtered",
             "chunks":[{"chunkId":"c#0","documentId":"c","source":"kb","version":1,"contentSha256":"00","label":"General","score":0.5}],
             "answer":{"receiptIds":["rcpt_0"],"answerSha256":"0000000000000000000000000000000000000000000000000000000000000000"}}
            """u8;

        var record = AuditJson.Deserialize(json);

        Assert.Empty(record.DecidingRules);
        Assert.Empty(record.PostFilterDrops);
        Assert.Empty(record.PostFilterDropReasons);
        Assert.Empty(Assert.Single(record.Chunks).Subjects);
        Assert.Empty(record.Answer!.CitedChunkIds);
        Assert.Equal(record.RecordId, AuditJson.Deserialize(AuditJson.Serialize(record)).RecordId);
    }
}
