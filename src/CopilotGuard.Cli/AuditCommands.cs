using System.CommandLine;
using System.Globalization;
using System.Text;
using System.Text.Json;
using CopilotGuard.Audit;
using CopilotGuard.Identity;
using CopilotGuard.Hosting.Audit;
using CopilotGuard.Hosting;
using Spectre.Console;

namespace CopilotGuard.Cli;

/// <summary>The <c>audit</c> verbs: <c>trace</c>, <c>who-accessed</c>, <c>subject</c>, <c>verify</c>, <c>export</c>, <c>proof</c>, <c>check-proof</c> and <c>retention</c>.</summary>
/// <remarks>Without <c>--as</c> the CLI acts as the local operator of the data folder (who can read its files anyway) and is
/// recorded as <c>local:&lt;os user&gt;</c>; with <c>--as</c> the compliance role is checked as for HTTP callers. Every
/// query is audited.</remarks>
internal static class AuditCommands
{
    public static Command Build(Option<string> data, Option<bool> json)
    {
        var asUser = new Option<string?>("--as") { Description = "Query as this directory principal (must hold the compliance role); the default is the local operator.", Recursive = true };
        var command = new Command("audit", "Trace answers and receipts, report accesses, verify, export, prove and apply retention to the audit log.") { asUser };
        command.Subcommands.Add(Trace(data, json, asUser));
        command.Subcommands.Add(WhoAccessed(data, json, asUser));
        command.Subcommands.Add(Subject(data, json, asUser));
        command.Subcommands.Add(Verify(data, json, asUser));
        command.Subcommands.Add(Export(data, asUser));
        command.Subcommands.Add(Proof(data, asUser));
        command.Subcommands.Add(CheckProof(data, json));
        command.Subcommands.Add(Retention(data, json, asUser));
        return command;
    }

    private static Command Trace(Option<string> data, Option<bool> json, Option<string?> asUser)
    {
        var id = new Argument<string>("id") { Description = "An answer id (ans_...) or a receipt id (rcpt_...)." };
        var command = new Command("trace", "List the receipts and exact chunks behind an answer, or show one receipt.") { id };
        command.SetAction(async (parse, cancellationToken) => await Run(parse, data, asUser, async (runtime, requester) =>
        {
            var key = parse.GetValue(id)!;
            if (key.StartsWith("ans_", StringComparison.Ordinal))
            {
                var trace = await runtime.AuditService.TraceAnswerAsync(requester, key, cancellationToken).ConfigureAwait(false);
                if (trace is null)
                {
                    return NotFound($"no answer has the id '{key}'");
                }

                var response = AnswerTraceResponse.From(trace);
                if (parse.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(response, CliApp.Json));
                    return 0;
                }

                AnsiConsole.MarkupLine($"Answer [bold]{response.AnswerId}[/] by {Markup.Escape(response.Principal)}{(response.Agent is null ? string.Empty : " via " + Markup.Escape(response.Agent))} at {response.Time:O}, model {Markup.Escape(response.Model ?? "(undeclared)")}, sha256 {response.AnswerSha256}");
                WriteChunks(response.Chunks);
                foreach (var expired in response.ExpiredReceipts)
                {
                    Console.WriteLine(expired.Describe());
                }

                return 0;
            }

            var receipt = await runtime.AuditService.GetReceiptAsync(requester, key, cancellationToken).ConfigureAwait(false);
            if (receipt is null)
            {
                return NotFound($"no record has the id '{key}'");
            }

            var body = new ReceiptResponse(receipt.Receipt.Sequence, receipt.Receipt.Hash, receipt.Receipt.Record, [.. receipt.Answers.Select(static a => a.Record.RecordId)]);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(body, CliApp.Json));
                return 0;
            }

            var record = body.Record;
            AnsiConsole.MarkupLine($"#{body.Sequence} [bold]{record.RecordId}[/] {record.Kind} at {record.Time:O}: {Markup.Escape(record.SubjectId)}{(record.ActorId is null ? string.Empty : " via " + Markup.Escape(record.ActorId))}, purpose {Markup.Escape(record.Purpose ?? "-")}, destination {Markup.Escape(record.Destination ?? "-")}, policy {Markup.Escape(record.PolicyVersion)}, decision {Markup.Escape(record.Decision)}");
            WriteChunks([.. record.Chunks.Select(c => new TracedChunk(c.ChunkId, c.DocumentId, c.Version, c.ContentSha256, c.Label, record.RecordId, null, c.Subjects))]);
            if (!body.Answers.IsEmpty)
            {
                Console.WriteLine($"answers: {string.Join(", ", body.Answers)}");
            }

            return 0;
        }, cancellationToken).ConfigureAwait(false));
        return command;
    }

    private static Command WhoAccessed(Option<string> data, Option<bool> json, Option<string?> asUser)
    {
        var document = new Argument<string>("document") { Description = "The document id." };
        var command = new Command("who-accessed", "List every retrieval that returned a chunk of a document.") { document };
        command.SetAction(async (parse, cancellationToken) => await Run(parse, data, asUser, async (runtime, requester) =>
        {
            var id = parse.GetValue(document)!;
            var accesses = await AllPagesAsync((page, ct) => runtime.AuditService.GetDocumentAccessesAsync(requester, id, page, ct), c => c.DocumentId == id, cancellationToken).ConfigureAwait(false);
            return WriteAccesses(parse.GetValue(json), new DocumentAccessesResponse(id, accesses, null), accesses);
        }, cancellationToken).ConfigureAwait(false));
        return command;
    }

    private static Command Subject(Option<string> data, Option<bool> json, Option<string?> asUser)
    {
        var subject = new Argument<string>("subject") { Description = "The data subject id (customer, patient, employee id)." };
        var command = new Command("subject", "The data-subject access report: every retrieval that returned data about a subject.") { subject };
        command.SetAction(async (parse, cancellationToken) => await Run(parse, data, asUser, async (runtime, requester) =>
        {
            var id = parse.GetValue(subject)!;
            var accesses = await AllPagesAsync((page, ct) => runtime.AuditService.GetSubjectAccessesAsync(requester, id, page, ct), c => c.Subjects.Contains(id), cancellationToken).ConfigureAwait(false);
            return WriteAccesses(parse.GetValue(json), new SubjectAccessesResponse(id, accesses, null), accesses);
        }, cancellationToken).ConfigureAwait(false));
        return command;
    }

    private static Command Verify(Option<string> data, Option<bool> json, Option<string?> asUser)
    {
        var command = new Command("verify", "Verify the chain, the signed checkpoints and the indexes; name the first bad entry or checkpoint. Exits 1 when the log is damaged.");
        command.SetAction(async (parse, cancellationToken) => await Run(parse, data, asUser, async (runtime, requester) =>
        {
            var response = VerifyResponse.From(await runtime.AuditService.VerifyAsync(requester, cancellationToken).ConfigureAwait(false));
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(response, CliApp.Json));
            }
            else if (response.Ok)
            {
                Console.WriteLine($"OK: {response.Records} records ({response.Expired} expired under retention), {response.Checkpoints} signed checkpoints, {response.Unanchored} after the last checkpoint; head {response.Head}, Merkle root {response.MerkleRoot}");
            }
            else
            {
                Console.WriteLine($"DAMAGED: {response.Problem} (first bad record: {response.FirstBadSequence?.ToString(CultureInfo.InvariantCulture) ?? "-"}, first bad checkpoint: {response.FirstBadCheckpoint?.ToString(CultureInfo.InvariantCulture) ?? "-"}; {response.Records} records checked before it)");
            }

            return response.Ok ? 0 : 1;
        }, cancellationToken).ConfigureAwait(false));
        return command;
    }

    private static Command Export(Option<string> data, Option<string?> asUser)
    {
        var format = new Option<string>("--format") { Description = "json (one stored entry per line, record bytes exactly as hashed) or csv (one row per returned chunk).", DefaultValueFactory = _ => "json" };
        format.AcceptOnlyFromAmong("json", "csv");
        var command = new Command("export", "Write every entry to standard output.") { format };
        command.SetAction(async (parse, cancellationToken) => await Run(parse, data, asUser, async (runtime, requester) =>
        {
            var entries = await runtime.AuditService.ExportAsync(requester, cancellationToken).ConfigureAwait(false);
            await using var output = Console.OpenStandardOutput();
            await AuditExport.WriteAsync(entries, parse.GetValue(format) == "csv", output, cancellationToken).ConfigureAwait(false);
            return 0;
        }, cancellationToken).ConfigureAwait(false));
        return command;
    }

    private static Command Proof(Option<string> data, Option<string?> asUser)
    {
        var id = new Argument<string>("record") { Description = "The record id (receipt, answer, ...)." };
        var command = new Command("proof", "Print an offline-checkable inclusion proof (RFC 9162) of a record against a signed checkpoint.") { id };
        command.SetAction(async (parse, cancellationToken) => await Run(parse, data, asUser, async (runtime, requester) =>
        {
            var key = parse.GetValue(id)!;
            var entry = await runtime.Audit.GetAsync(key, cancellationToken).ConfigureAwait(false);
            if (entry is not null && (await runtime.Audit.GetCheckpointsAsync(cancellationToken).ConfigureAwait(false)).All(c => c.TreeSize < entry.Sequence))
            {
                await runtime.Audit.CheckpointAsync(cancellationToken).ConfigureAwait(false);
            }

            var proof = await runtime.AuditService.ProveAsync(requester, key, cancellationToken).ConfigureAwait(false);
            if (proof is null)
            {
                return NotFound($"no record has the id '{key}'");
            }

            Console.WriteLine(JsonSerializer.Serialize(proof, CliApp.Json));
            return 0;
        }, cancellationToken).ConfigureAwait(false));
        return command;
    }

    private static Command CheckProof(Option<string> data, Option<bool> json)
    {
        var file = new Argument<string>("file") { Description = "A proof printed by audit proof." };
        var publicKey = new Option<string?>("--public-key") { Description = "The checkpoint public key (PEM); the default is the data folder's keys/audit-checkpoint.pub.pem." };
        var command = new Command("check-proof", "Check an inclusion proof offline: record bytes, audit path, checkpoint signature. Exits 1 when it fails.") { file, publicKey };
        command.SetAction(async (parse, cancellationToken) => await CliApp.Guarded(async () =>
        {
            var keyPath = parse.GetValue(publicKey) ?? EcdsaAuditSigner.PublicKeyPath(Path.Combine(new DataFolder(parse.GetValue(data)!).KeysPath, "audit-checkpoint.pem"));
            var proof = JsonSerializer.Deserialize<AuditInclusionProof>(await File.ReadAllTextAsync(parse.GetValue(file)!, cancellationToken).ConfigureAwait(false), CliApp.Json)
                ?? throw new InvalidDataException("The proof file is empty.");
            using var verifier = EcdsaAuditSigner.FromPublicKey(await File.ReadAllTextAsync(keyPath, cancellationToken).ConfigureAwait(false));
            var problem = proof.Verify(verifier);
            Console.WriteLine(parse.GetValue(json)
                ? JsonSerializer.Serialize(new { ok = problem is null, recordId = proof.RecordId, sequence = proof.Sequence, treeSize = proof.Checkpoint.TreeSize, problem }, CliApp.Json)
                : problem is null ? $"OK: {proof.RecordId} is entry {proof.Sequence} of the log signed at tree size {proof.Checkpoint.TreeSize}" : $"FAILED: {problem}");
            return problem is null ? 0 : 1;
        }).ConfigureAwait(false));
        return command;
    }

    private static Command Retention(Option<string> data, Option<bool> json, Option<string?> asUser)
    {
        var dryRun = new Option<bool>("--dry-run") { Description = "Only show what would expire, per class; write nothing (the query itself is audited)." };
        var file = new Option<string?>("--file") { Description = $"The retention file; the default is the data folder's {RetentionFile.FileName}." };
        var command = new Command("retention", "Expire audit entries older than their retention class allows (tombstones keep the log verifiable), and show what expired per class.") { dryRun, file };
        command.SetAction(async (parse, cancellationToken) => await Run(parse, data, asUser, async (runtime, requester) =>
        {
            var path = parse.GetValue(file) ?? runtime.Data.RetentionPath;
            if (!File.Exists(path))
            {
                if (parse.GetValue(file) is not null)
                {
                    throw new FileNotFoundException($"The retention file {path} does not exist.", path);
                }

                Console.Error.WriteLine($"copilotguard: no retention file ({path}): nothing ever expires");
                return 0;
            }

            var labeling = await CopilotGuardRuntime.LoadLabelingAsync(runtime.Data, cancellationToken).ConfigureAwait(false);
            var policy = await RetentionFile.LoadAsync(path, labeling.Taxonomy, cancellationToken).ConfigureAwait(false);
            var report = await runtime.AuditService.ApplyRetentionAsync(requester, policy, parse.GetValue(dryRun), cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(report, CliApp.Json));
                return 0;
            }

            var table = new Table().AddColumns("class", "max age", "cutoff", report.DryRun ? "would expire" : "expired", "ranges");
            foreach (var c in report.Summary.Classes)
            {
                table.AddRow(
                    Markup.Escape(c.Class),
                    Markup.Escape(c.MaxAge),
                    c.Cutoff?.ToString("u", CultureInfo.InvariantCulture) ?? "never",
                    c.Expired.ToString(CultureInfo.InvariantCulture),
                    Markup.Escape(string.Join(", ", c.Ranges.Take(5).Select(static r => r.First == r.Last ? $"{r.First}" : $"{r.First}-{r.Last}")) + (c.Ranges.Length > 5 ? ", …" : string.Empty)));
            }

            AnsiConsole.Write(table);
            Console.WriteLine(report.DryRun
                ? $"dry run: {report.Summary.Expired} entries covered by the checkpoint at tree size {report.Summary.CoveredByCheckpoint} would expire; nothing was written"
                : report.Record is { } record
                    ? $"expired {report.Summary.Expired} entries; retention record {record.Record.RecordId} is entry {record.Sequence}, signed by a new checkpoint"
                    : "nothing to expire");
            if (report.Held > 0)
            {
                Console.WriteLine($"held: {report.Held} entries returned labels that are not in the taxonomy; they do not expire");
            }

            return 0;
        }, cancellationToken).ConfigureAwait(false));
        return command;
    }

    private static async Task<int> Run(ParseResult parse, Option<string> data, Option<string?> asUser, Func<CopilotGuardRuntime, AuditRequester, Task<int>> action, CancellationToken cancellationToken) =>
        await CliApp.Guarded(async () =>
        {
            await using var runtime = await CopilotGuardRuntime.OpenAsync(new DataFolder(parse.GetValue(data)!), seed: false, cancellationToken: cancellationToken).ConfigureAwait(false);
            var requester = parse.GetValue(asUser) is { } user
                ? AuditRequester.Remote(new CallerIdentity(user), "cli")
                : AuditRequester.Local(Environment.UserName);
            try
            {
                return await action(runtime, requester).ConfigureAwait(false);
            }
            catch (AuditRecordExpiredException exception)
            {
                return NotFound(exception.Message);
            }
        }).ConfigureAwait(false);

    private static async Task<System.Collections.Immutable.ImmutableArray<Access>> AllPagesAsync(Func<AuditPageRequest, CancellationToken, Task<AuditPage>> read, Func<AuditedChunk, bool> concerns, CancellationToken cancellationToken)
    {
        var accesses = System.Collections.Immutable.ImmutableArray.CreateBuilder<Access>();
        long? after = 0;
        while (after is { } cursor)
        {
            var page = await read(new AuditPageRequest(AuditPageRequest.MaxLimit, cursor), cancellationToken).ConfigureAwait(false);
            accesses.AddRange(page.Entries.Select(e => Access.From(e, concerns)));
            after = page.NextAfterSequence;
        }

        return accesses.ToImmutable();
    }

    private static int WriteAccesses(bool json, object response, IReadOnlyList<Access> accesses)
    {
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(response, response.GetType(), CliApp.Json));
            return 0;
        }

        var table = new Table().AddColumns("time", "receipt", "principal", "agent", "purpose", "destination", "chunks");
        foreach (var access in accesses)
        {
            table.AddRow(
                access.Time.ToString("u", CultureInfo.InvariantCulture),
                access.ReceiptId,
                Markup.Escape(access.Principal),
                Markup.Escape(access.Agent ?? "-"),
                Markup.Escape(access.Purpose ?? "-"),
                Markup.Escape(access.Destination ?? "-"),
                Markup.Escape(string.Join(", ", access.Chunks.Select(static c => $"{c.Id} v{c.Version}"))));
        }

        AnsiConsole.Write(table);
        Console.WriteLine($"{accesses.Count} retrieval(s)");
        return 0;
    }

    private static void WriteChunks(IReadOnlyList<TracedChunk> chunks)
    {
        var table = new Table().AddColumns("chunk", "document", "version", "label", "sha256", "receipt", "cited");
        foreach (var chunk in chunks)
        {
            table.AddRow(Markup.Escape(chunk.Id), Markup.Escape(chunk.DocumentId), chunk.Version.ToString(CultureInfo.InvariantCulture), chunk.Label, chunk.ContentSha256[..16] + "…", chunk.ReceiptId, chunk.Cited switch { true => "yes", false => "no", null => "-" });
        }

        AnsiConsole.Write(table);
    }

    private static int NotFound(string message)
    {
        Console.Error.WriteLine($"copilotguard: {message}");
        return 4;
    }
}

/// <summary>Writes audit entries as JSON lines (record bytes exactly as hashed, so the chain can be re-verified elsewhere) or CSV.</summary>
internal static class AuditExport
{
    private static readonly string[] Columns =
    [
        "sequence", "hash", "record_id", "kind", "time", "principal", "agent", "client_address", "purpose", "destination",
        "conversation_id", "policy_version", "decision", "target", "chunk_id", "document_id", "version", "content_sha256", "label", "subjects",
    ];

    public static async Task WriteAsync(IAsyncEnumerable<StoredAuditEntry> entries, bool csv, Stream output, CancellationToken cancellationToken)
    {
        await using var writer = new StreamWriter(output, new UTF8Encoding(false), leaveOpen: true) { NewLine = csv ? "\r\n" : "\n" };
        if (csv)
        {
            await writer.WriteLineAsync(string.Join(',', Columns)).ConfigureAwait(false);
        }

        await foreach (var entry in entries.WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            if (!csv)
            {
                await writer.WriteAsync(string.Create(CultureInfo.InvariantCulture, $"{{\"sequence\":{entry.Sequence},\"hash\":\"{entry.Hash}\",{(entry.LeafHash is { } leaf ? $"\"leafHash\":\"{leaf}\"," : string.Empty)}\"record\":")).ConfigureAwait(false);
                await writer.WriteAsync(Encoding.UTF8.GetString(entry.Payload.Span)).ConfigureAwait(false);
                await writer.WriteLineAsync('}').ConfigureAwait(false);
                continue;
            }

            var record = AuditJson.Deserialize(entry.Payload.Span);
            string?[] common =
            [
                entry.Sequence.ToString(CultureInfo.InvariantCulture), entry.Hash, record.RecordId, record.Kind, record.Time.ToString("O", CultureInfo.InvariantCulture),
                record.SubjectId, record.ActorId, record.ClientAddress, record.Purpose, record.Destination, record.ConversationId, record.PolicyVersion, record.Decision, record.Target,
            ];
            if (record.Chunks.IsEmpty)
            {
                await writer.WriteLineAsync(Row([.. common, null, null, null, null, null, null])).ConfigureAwait(false);
            }

            foreach (var chunk in record.Chunks)
            {
                await writer.WriteLineAsync(Row([.. common, chunk.ChunkId, chunk.DocumentId, chunk.Version.ToString(CultureInfo.InvariantCulture), chunk.ContentSha256, chunk.Label, string.Join(' ', chunk.Subjects)])).ConfigureAwait(false);
            }
        }
    }

    /// <summary>Formats one RFC 4180 row; cells that a spreadsheet would run as a formula are prefixed with an apostrophe.</summary>
    internal static string Row(IEnumerable<string?> cells) => string.Join(',', cells.Select(Cell));

    private static string Cell(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return string.Empty;
        }

        if (value[0] is '=' or '+' or '-' or '@' or '\t' or '\r')
        {
            value = "'" + value;
        }

        return value.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + value.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : value;
    }
}
