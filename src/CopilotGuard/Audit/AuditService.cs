using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Operations;

namespace CopilotGuard.Audit;

/// <summary>Registers answers against receipts and answers compliance questions over the audit log.</summary>
/// <remarks>Only principals with a compliance role (or the local operator of the data folder) may query; every query,
/// allowed or denied, is itself appended to the log before any data is read (fail closed). Callers are admitted, and
/// records stamped and appended, through the same <see cref="GuardedOperations"/> path as retrieval. Answers are bound
/// by hash: their text is never stored.</remarks>
public sealed class AuditService
{
    private const string AuditFailure = "The audit record could not be written, so the request was refused.";

    private readonly IAuditLog _log;
    private readonly IAuditReader _reader;
    private readonly GuardedOperations _guard;
    private readonly AuditServiceOptions _options;

    /// <summary>Creates the service over a log.</summary>
    /// <param name="log">The log that receipts, answers and retention are read from.</param>
    /// <param name="reader">The same log's query side.</param>
    /// <param name="guard">The guarded-operation path: resolves callers, runs the gates, and stamps and appends the
    /// answer and query records.</param>
    /// <param name="options">Roles and limits; the defaults when <see langword="null"/>.</param>
    public AuditService(IAuditLog log, IAuditReader reader, GuardedOperations guard, AuditServiceOptions? options = null)
    {
        _log = log ?? throw new ArgumentNullException(nameof(log));
        _reader = reader ?? throw new ArgumentNullException(nameof(reader));
        _guard = guard ?? throw new ArgumentNullException(nameof(guard));
        _options = options ?? new AuditServiceOptions();
    }

    /// <summary>Binds an answer (by hash) to the receipts that grounded it, as a hash-chained <c>answer</c> record.</summary>
    /// <exception cref="GuardException">The request is invalid, the caller is refused, or the record could not be written.</exception>
    /// <exception cref="AuditNotFoundException">A receipt does not exist or is not the caller's.</exception>
    public async Task<RegisteredAnswer> RegisterAnswerAsync(CallerIdentity caller, AnswerRegistration registration, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(registration);
        var sha256 = ValidateAnswer(registration);
        // Registering an answer is not a data access for a purpose; only audit queries are done "for compliance".
        // The policy snapshot is read once: the caller, the gates and the answer record use the same version.
        var operation = _guard.Begin();
        var principals = await operation.AdmitAsync(caller, new AccessRequest("answer-register", null, "internal"), cancellationToken).ConfigureAwait(false);
        var compliance = IsCompliance(principals);
        var returned = new HashSet<string>(StringComparer.Ordinal);
        foreach (var receiptId in registration.ReceiptIds)
        {
            var entry = await _log.GetAsync(receiptId, cancellationToken).ConfigureAwait(false);
            if (entry?.Record.Kind == AuditRecordKinds.Expired)
            {
                throw new AuditNotFoundException($"Receipt '{receiptId}' expired under retention; an answer cannot be bound to it.");
            }

            var owned = entry is not null
                && entry.Record.Kind == AuditRecordKinds.Retrieval
                && (compliance || (entry.Record.SubjectId == caller.SubjectId && entry.Record.ActorId == caller.ActorId));
            if (!owned)
            {
                throw new AuditNotFoundException($"Receipt '{receiptId}' was not found among your retrieval receipts.");
            }

            returned.UnionWith(entry!.Record.Chunks.Select(static c => c.ChunkId));
        }

        var uncited = registration.CitedChunkIds.FirstOrDefault(id => !returned.Contains(id));
        if (uncited is not null)
        {
            throw new GuardException(GuardErrorKind.InvalidRequest, $"Cited chunk '{uncited}' was not returned by any of the receipts.");
        }

        var record = NewRecord(operation, AuditRecordKinds.Answer, "ans_", principals, registration.ClientAddress, "registered") with
        {
            Answer = new AnswerBinding
            {
                AnswerSha256 = sha256,
                Model = registration.Model,
                ReceiptIds = registration.ReceiptIds,
                CitedChunkIds = registration.CitedChunkIds,
            },
        };
        var appended = await AppendAsync(operation, record, cancellationToken).ConfigureAwait(false);
        return new RegisteredAnswer(record.RecordId, sha256, appended.Sequence);
    }

    /// <summary>Lists the receipts and exact chunks behind an answer.</summary>
    /// <returns>The trace, or <see langword="null"/> when no answer has this id.</returns>
    /// <exception cref="GuardException">The requester is not a compliance officer, or the query could not be audited.</exception>
    public async Task<AnswerTrace?> TraceAnswerAsync(AuditRequester requester, string answerId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(answerId);
        await AuthorizeAsync(requester, "answer:" + answerId, cancellationToken).ConfigureAwait(false);
        var answer = await ThrowIfExpiredAsync(await _log.GetAsync(answerId, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        if (answer?.Record is not { Kind: AuditRecordKinds.Answer, Answer: { } binding })
        {
            return null;
        }

        var receipts = new List<AuditEntry>(binding.ReceiptIds.Length);
        var expired = new List<ExpiredAuditRecord>();
        foreach (var receiptId in binding.ReceiptIds)
        {
            // A receipt named by a hash-chained answer record must exist; a missing one means the log was damaged.
            var receipt = await _log.GetAsync(receiptId, cancellationToken).ConfigureAwait(false)
                ?? throw new InvalidDataException($"Answer {answerId} names receipt {receiptId}, which is not in the log.");
            if (receipt.Record.Kind == AuditRecordKinds.Expired)
            {
                expired.Add(await DescribeExpiredAsync(receipt, cancellationToken).ConfigureAwait(false));
            }
            else
            {
                receipts.Add(receipt);
            }
        }

        return new AnswerTrace(answer, receipts) { ExpiredReceipts = expired };
    }

    /// <summary>Gets one retrieval's record and the answers bound to it.</summary>
    /// <returns>The record, or <see langword="null"/> when no record has this id.</returns>
    /// <exception cref="GuardException">The requester is not a compliance officer, or the query could not be audited.</exception>
    public async Task<ReceiptTrace?> GetReceiptAsync(AuditRequester requester, string receiptId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(receiptId);
        await AuthorizeAsync(requester, "receipt:" + receiptId, cancellationToken).ConfigureAwait(false);
        var entry = await ThrowIfExpiredAsync(await _log.GetAsync(receiptId, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        return entry is null ? null : new ReceiptTrace(entry, await _reader.GetAnswersForReceiptAsync(receiptId, cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Lists the retrievals that returned a chunk of a document, one page at a time.</summary>
    /// <exception cref="GuardException">The requester is not a compliance officer, or the query could not be audited.</exception>
    public async Task<AuditPage> GetDocumentAccessesAsync(AuditRequester requester, string documentId, AuditPageRequest page, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(documentId);
        ValidatePage(page);
        await AuthorizeAsync(requester, "document:" + documentId, cancellationToken).ConfigureAwait(false);
        return await _reader.GetDocumentAccessesAsync(documentId, page, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Lists the retrievals that returned data about a data subject (the data-subject access report), one page at a time.</summary>
    /// <exception cref="GuardException">The requester is not a compliance officer, or the query could not be audited.</exception>
    public async Task<AuditPage> GetSubjectAccessesAsync(AuditRequester requester, string subjectId, AuditPageRequest page, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(subjectId);
        ValidatePage(page);
        await AuthorizeAsync(requester, "subject:" + subjectId, cancellationToken).ConfigureAwait(false);
        return await _reader.GetSubjectAccessesAsync(subjectId, page, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Verifies the whole log: chain, checkpoints and indexes.</summary>
    /// <exception cref="GuardException">The requester is not a compliance officer, or the query could not be audited.</exception>
    public async Task<AuditVerification> VerifyAsync(AuditRequester requester, CancellationToken cancellationToken)
    {
        await AuthorizeAsync(requester, "verify", cancellationToken).ConfigureAwait(false);
        return await _log.VerifyAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Opens every entry for export, oldest first.</summary>
    /// <exception cref="GuardException">The requester is not a compliance officer, or the query could not be audited.</exception>
    public async Task<IAsyncEnumerable<StoredAuditEntry>> ExportAsync(AuditRequester requester, CancellationToken cancellationToken)
    {
        await AuthorizeAsync(requester, "export", cancellationToken).ConfigureAwait(false);
        return _reader.ReadAsync(0, cancellationToken);
    }

    /// <summary>Builds an offline-checkable proof that a record is in the log, against the first signed checkpoint that covers it.</summary>
    /// <returns>The proof, or <see langword="null"/> when no record has this id.</returns>
    /// <exception cref="GuardException">The requester is not a compliance officer, or the query could not be audited.</exception>
    /// <exception cref="InvalidOperationException">No checkpoint covers the record yet.</exception>
    public async Task<AuditInclusionProof?> ProveAsync(AuditRequester requester, string recordId, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(recordId);
        await AuthorizeAsync(requester, "proof:" + recordId, cancellationToken).ConfigureAwait(false);
        var entry = await ThrowIfExpiredAsync(await _log.GetAsync(recordId, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false);
        if (entry is null)
        {
            return null;
        }

        var checkpoints = await _reader.GetCheckpointsAsync(cancellationToken).ConfigureAwait(false);
        var checkpoint = checkpoints.FirstOrDefault(c => c.TreeSize >= entry.Sequence)
            ?? throw new InvalidOperationException($"Record {recordId} is not covered by a signed checkpoint yet; try again after the next checkpoint.");
        return await AuditInclusionProof.BuildAsync(_reader, entry.Sequence, checkpoint, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Applies (or, for a dry run, only reports) a retention policy to the log, on behalf of a compliance officer or the local operator.</summary>
    /// <exception cref="GuardException">The requester is refused, or the query could not be audited.</exception>
    /// <exception cref="InvalidOperationException">The audit log does not support retention, or cannot sign checkpoints.</exception>
    public async Task<AuditRetentionReport> ApplyRetentionAsync(AuditRequester requester, AuditRetentionPolicy policy, bool dryRun, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        ArgumentNullException.ThrowIfNull(policy);
        var retention = _log as IAuditRetention
            ?? throw new InvalidOperationException($"The audit log ({_log.GetType().Name}) does not support retention.");
        await AuthorizeAsync(requester, dryRun ? "retention:dry-run" : "retention", cancellationToken).ConfigureAwait(false);
        var runBy = requester.LocalOperator ?? requester.Caller!.SubjectId;
        return await retention.ApplyRetentionAsync(policy, new AuditRetentionRun(runBy) { DryRun = dryRun }, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Describes a tombstone: when and by which retention record (and class) it expired.</summary>
    /// <exception cref="InvalidDataException">The tombstone names no retention record in the log (the log was altered).</exception>
    public async Task<ExpiredAuditRecord> DescribeExpiredAsync(AuditEntry tombstone, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(tombstone);
        var retentionId = tombstone.Record.Target;
        var run = string.IsNullOrEmpty(retentionId) ? null : await _log.GetAsync(retentionId, cancellationToken).ConfigureAwait(false);
        if (tombstone.Record.Kind != AuditRecordKinds.Expired || run?.Record.Retention is not { } summary)
        {
            throw new InvalidDataException($"Entry {tombstone.Sequence} is a tombstone that names no retention record; run audit verify.");
        }

        var governing = summary.Classes.FirstOrDefault(c => !c.Ranges.IsDefault && c.Ranges.Any(r => r.First <= tombstone.Sequence && tombstone.Sequence <= r.Last));
        return new ExpiredAuditRecord(tombstone.Record.RecordId, tombstone.Sequence, tombstone.Hash, run.Record.Time, run.Record.RecordId, governing?.Class, governing?.MaxAge);
    }

    private async Task<AuditEntry?> ThrowIfExpiredAsync(AuditEntry? entry, CancellationToken cancellationToken) =>
        entry?.Record.Kind == AuditRecordKinds.Expired
            ? throw new AuditRecordExpiredException(await DescribeExpiredAsync(entry, cancellationToken).ConfigureAwait(false))
            : entry;

    /// <summary>Audits and authorizes one compliance query about <paramref name="target"/>: the record is written first,
    /// and only compliance officers acting without an agent pass. Other read models (the console) share this one check.</summary>
    /// <exception cref="GuardException">The requester is refused, or the query could not be audited.</exception>
    public Task AuthorizeAsync(AuditRequester requester, string target, CancellationToken cancellationToken) =>
        AuthorizeAsync(requester, target, alsoAllowed: null, cancellationToken);

    /// <summary>Audits and authorizes one query, letting <paramref name="alsoAllowed"/> admit callers other than
    /// compliance officers (for example data owners reading their own sources' labels).</summary>
    /// <returns>True when the requester is a compliance officer (or the local operator); false when only
    /// <paramref name="alsoAllowed"/> admitted it, so the caller must narrow what it returns.</returns>
    /// <exception cref="GuardException">The requester is refused, or the query could not be audited.</exception>
    public async Task<bool> AuthorizeAsync(AuditRequester requester, string target, Func<CallerPrincipals, bool>? alsoAllowed, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        if (requester.Caller is null)
        {
            if (string.IsNullOrEmpty(requester.LocalOperator))
            {
                throw new ArgumentException("A requester is either a caller or the local operator.", nameof(requester));
            }

            var local = _guard.Begin();
            await AppendAsync(local, NewRecord(local, AuditRecordKinds.AuditQuery, "aq_", requester.LocalOperator, null, requester.ClientAddress, "allowed") with { Target = target }, cancellationToken).ConfigureAwait(false);
            return true;
        }

        // The policy snapshot is read once: the caller, the gates and the audit-query record use the same version.
        var operation = _guard.Begin();
        var principals = await operation.AdmitAsync(requester.Caller, new AccessRequest(AuditRecordKinds.AuditQuery, "compliance", "internal"), cancellationToken).ConfigureAwait(false);
        var compliance = IsCompliance(principals);
        var allowed = compliance || (principals.Actor is null && alsoAllowed?.Invoke(principals) == true);
        await AppendAsync(operation, NewRecord(operation, AuditRecordKinds.AuditQuery, "aq_", principals, requester.ClientAddress, allowed ? "allowed" : "denied") with { Target = target }, cancellationToken).ConfigureAwait(false);
        return allowed
            ? compliance
            : throw new GuardException(GuardErrorKind.Forbidden, $"Only principals with one of the roles {string.Join(", ", _options.ComplianceRoles)}, acting without an agent, may query the audit log{(alsoAllowed is null ? string.Empty : " (data owners: only the labels of their own sources)")}.");
    }

    private bool IsCompliance(CallerPrincipals principals) =>
        principals.Actor is null
        && principals.Subject.Attributes.TryGet("roles", out var roles)
        && roles.Any(role => role.Kind == AttributeKind.String && _options.ComplianceRoles.Contains(role.Text, StringComparer.Ordinal));

    private static AuditRecord NewRecord(GuardedOperation operation, string kind, string prefix, CallerPrincipals principals, string? clientAddress, string decision) =>
        NewRecord(operation, kind, prefix, principals.Subject.Id, principals.Actor?.Id, clientAddress, decision);

    private static AuditRecord NewRecord(GuardedOperation operation, string kind, string prefix, string subjectId, string? actorId, string? clientAddress, string decision) =>
        operation.NewRecord(kind, subjectId, actorId, decision, prefix) with
        {
            ClientAddress = clientAddress,
            Purpose = kind == AuditRecordKinds.AuditQuery ? "compliance" : null,
        };

    private static Task<AuditEntry> AppendAsync(GuardedOperation operation, AuditRecord record, CancellationToken cancellationToken) =>
        operation.AppendAsync(record, AuditFailure, cancellationToken);

    private string ValidateAnswer(AnswerRegistration registration)
    {
        if (registration.ReceiptIds.IsDefaultOrEmpty || registration.ReceiptIds.Length > _options.MaxReceiptsPerAnswer)
        {
            throw Invalid($"receiptIds must name between 1 and {_options.MaxReceiptsPerAnswer} receipts.");
        }

        if (registration.ReceiptIds.Any(static id => string.IsNullOrWhiteSpace(id) || id.Length > 128))
        {
            throw Invalid("Every receipt id must be non-empty and at most 128 characters long.");
        }

        if (registration.ReceiptIds.Distinct(StringComparer.Ordinal).Count() != registration.ReceiptIds.Length)
        {
            throw Invalid("receiptIds must not repeat a receipt.");
        }

        if (!registration.CitedChunkIds.IsDefault && (registration.CitedChunkIds.Length > _options.MaxCitedChunks || registration.CitedChunkIds.Any(static id => string.IsNullOrWhiteSpace(id) || id.Length > 512)))
        {
            throw Invalid($"citedChunkIds must hold at most {_options.MaxCitedChunks} non-empty chunk ids of at most 512 characters.");
        }

        if (registration.Model is { Length: > 256 })
        {
            throw Invalid("model is longer than 256 characters.");
        }

        string? declared = null;
        if (registration.AnswerSha256 is { } given)
        {
            if (given.Length != 64 || !given.All(char.IsAsciiHexDigit))
            {
                throw Invalid("answerSha256 must be 64 hexadecimal characters.");
            }

            declared = given.ToLowerInvariant();
        }

        if (registration.Answer is null)
        {
            return declared ?? throw Invalid("Either answer or answerSha256 is required.");
        }

        var computed = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(registration.Answer)));
        return declared is null || declared == computed
            ? computed
            : throw Invalid("answerSha256 is not the SHA-256 of answer.");

        static GuardException Invalid(string message) => new(GuardErrorKind.InvalidRequest, message);
    }

    private static void ValidatePage(AuditPageRequest page)
    {
        ArgumentNullException.ThrowIfNull(page);
        if (page.Limit < 1 || page.Limit > AuditPageRequest.MaxLimit || page.AfterSequence < 0)
        {
            throw new GuardException(GuardErrorKind.InvalidRequest, $"limit must be between 1 and {AuditPageRequest.MaxLimit}, and the cursor must come from a previous page.");
        }
    }
}
