using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using CopilotGuard.Anonymization;
using CopilotGuard.Identity;
using CopilotGuard.Labeling;
using CopilotGuard.Ingestion;
using CopilotGuard.Typing;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Hosting;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Spectre.Console;

namespace CopilotGuard.Cli;

/// <summary>The <c>copilotguard</c> command line.</summary>
public static class CliApp
{
    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>Builds the root command with every verb.</summary>
    public static RootCommand Build()
    {
        var data = new Option<string>("--data") { Description = "The data folder (created and seeded with the samples on first use).", DefaultValueFactory = _ => "data", Recursive = true };
        var json = new Option<bool>("--json") { Description = "Print machine-readable JSON.", Recursive = true };
        var root = new RootCommand("CopilotGuard: the policy-enforcing retrieval broker for RAG copilots.") { data, json };
        root.Subcommands.Add(Serve(data));
        root.Subcommands.Add(Token(data, json));
        root.Subcommands.Add(Ingest(data, json));
        root.Subcommands.Add(Retrieve(data, json));
        root.Subcommands.Add(PolicyCommands.Build(data, json));
        root.Subcommands.Add(AnonymizeCommand.Build(data, json));
        root.Subcommands.Add(NerCommand.Build(json));
        root.Subcommands.Add(AuditCommands.Build(data, json));
        root.Subcommands.Add(BenchCommands.Build(data, json));
        AdminCommands.Build(data, json).ToList().ForEach(root.Subcommands.Add);
        return root;
    }

    private static Command Serve(Option<string> data)
    {
        var urls = new Option<string?>("--urls") { Description = $"Where to listen. The default is ASPNETCORE_URLS or ASPNETCORE_HTTP_PORTS when set, otherwise {CopilotGuardServer.DefaultUrls}." };
        var command = new Command("serve", "Run the HTTP server on the data folder.") { urls };
        command.SetAction(async (parse, cancellationToken) =>
        {
            return await Guarded(async () =>
            {
                var folder = new DataFolder(parse.GetValue(data)!);
                // The embedded default accepts development tokens even in Production, unless the operator decides otherwise.
                string[] arguments =
                [
                    "--data", folder.Root,
                    .. parse.GetValue(urls) is { } listen ? (string[])["--urls", listen] : [],
                    .. Environment.GetEnvironmentVariable("CopilotGuard__Identity__AllowDevelopmentIssuer") is null ? (string[])["--CopilotGuard:Identity:AllowDevelopmentIssuer=true"] : [],
                ];
                WebApplication app;
                if (!NeedsSeeding(folder))
                {
                    app = await CopilotGuardServer.BuildAsync(arguments, cancellationToken: cancellationToken).ConfigureAwait(false);
                    await app.StartAsync(cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    AnsiConsole.MarkupLine($"First start: seeding [bold]{Markup.Escape(folder.Root)}[/] with the sample directory and policies, and the store with the sample corpus.");
                    ProgressTask? task = null;
                    app = await CopilotGuardServer.BuildAsync(
                        arguments,
                        new Progress<IngestionProgress>(p =>
                        {
                            if (task is not null)
                            {
                                task.MaxValue = Math.Max(1, p.Total);
                                task.Value = p.Done;
                            }
                        }),
                        cancellationToken).ConfigureAwait(false);
                    // Seeding runs while the host starts (the runtime's hosted service).
                    await AnsiConsole.Progress().StartAsync(async context =>
                    {
                        task = context.AddTask("Embedding and storing the sample corpus");
                        await app.StartAsync(cancellationToken).ConfigureAwait(false);
                        task.Value = task.MaxValue;
                    }).ConfigureAwait(false);
                }

                await using (app.ConfigureAwait(false))
                {
                    await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
                }

                return 0;
            }).ConfigureAwait(false);
        });
        return command;
    }

    private static Command Token(Option<string> data, Option<bool> json)
    {
        var user = new Option<string>("--user") { Description = "The user (directory id) the token is for.", Required = true };
        var agent = new Option<string?>("--agent") { Description = "An agent acting on behalf of the user (the act claim)." };
        var hours = new Option<double>("--hours") { Description = "Lifetime in hours (at most CopilotGuard:Identity:MaxTokenLifetime, 12 by default).", DefaultValueFactory = _ => 8 };
        var command = new Command("token", "Mint a development token (development issuer only).") { user, agent, hours };
        command.SetAction(async (parse, cancellationToken) => await Guarded(async () =>
        {
            // The development issuer obeys the same cap as any issuer: a longer token would be refused by the server.
            var max = MaxTokenLifetime();
            var requested = parse.GetValue(hours);
            if (!double.IsFinite(requested) || requested <= 0 || requested > max.TotalHours)
            {
                await Console.Error.WriteLineAsync($"copilotguard: --hours must be more than 0 and at most {max.TotalHours.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture)} (CopilotGuard:Identity:MaxTokenLifetime); the server refuses longer-lived tokens.").ConfigureAwait(false);
                return 2;
            }

            await using var runtime = await CopilotGuardRuntime.OpenAsync(new DataFolder(parse.GetValue(data)!), seed: false, cancellationToken: cancellationToken).ConfigureAwait(false);
            var subject = parse.GetValue(user)!;
            var actor = parse.GetValue(agent);
            _ = await runtime.Broker.ResolveCallerAsync(new CallerIdentity(subject, actor), cancellationToken).ConfigureAwait(false);
            var token = runtime.Issuer.CreateToken(subject, actor, TimeSpan.FromHours(requested), maxLifetime: max);
            Console.WriteLine(parse.GetValue(json) ? JsonSerializer.Serialize(new { token, user = subject, agent = actor }, Json) : token);
            return 0;
        }).ConfigureAwait(false));
        return command;
    }

    private static Command Ingest(Option<string> data, Option<bool> json)
    {
        var path = new Argument<string>("path") { Description = "A corpus folder (one sub-folder per source) or one source folder." };
        var command = new Command("ingest", "Embed and store documents and rows, with their labels and attributes.") { path };
        command.SetAction(async (parse, cancellationToken) => await Guarded(async () =>
        {
            // Opened without the stored-type check: re-ingesting is how a store ingested before attributes were typed is fixed.
            await using var runtime = await CopilotGuardRuntime.OpenAsync(new DataFolder(parse.GetValue(data)!), seed: false, options: new CopilotGuardRuntimeOptions { CheckStoredAttributeTypes = false }, cancellationToken: cancellationToken).ConfigureAwait(false);
            var labeling = await CopilotGuardRuntime.LoadLabelingAsync(runtime.Data, cancellationToken).ConfigureAwait(false);
            var labeler = new ChunkLabeler(labeling, EntityAnalyzer.CreateDefault());
            var corpus = parse.GetValue(path)!;
            var (_, schema) = await CopilotGuardRuntime.LoadDirectoryAndSchemaAsync(runtime.Data, labeling.Taxonomy, corpus, cancellationToken).ConfigureAwait(false);
            var chunks = (await new CorpusReader(labeling.Taxonomy, schema[Policy.AttributeScope.Resource]).ReadAsync(corpus, cancellationToken).ConfigureAwait(false)).Select(labeler.Apply).ToList();
            var ingestor = new Ingestor(runtime.Store, runtime.Embedder);
            await SubjectNames.MergeIntoFileAsync(runtime.Data.SubjectNamesPath, SubjectNames.Extract(chunks), cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                await ingestor.IngestAsync(chunks, null, cancellationToken).ConfigureAwait(false);
                await StoredAttributeTypes.EnsureMatchAsync(runtime.Store, schema, cancellationToken).ConfigureAwait(false);
                Console.WriteLine(JsonSerializer.Serialize(new { chunks = chunks.Count, documents = chunks.Select(static c => c.DocumentId).Distinct().Count() }, Json));
                return 0;
            }

            await AnsiConsole.Progress().StartAsync(async context =>
            {
                var task = context.AddTask("Embedding and storing chunks", maxValue: chunks.Count);
                await ingestor.IngestAsync(chunks, new Progress<IngestionProgress>(p => task.Value = p.Done), cancellationToken).ConfigureAwait(false);
                task.Value = chunks.Count;
            }).ConfigureAwait(false);
            AnsiConsole.MarkupLine($"Ingested [green]{chunks.Count}[/] chunks from {chunks.Select(static c => c.DocumentId).Distinct().Count()} documents.");
            // Chunks of other corpora ingested before attributes were typed still hold strings; say so (exit code 2).
            await StoredAttributeTypes.EnsureMatchAsync(runtime.Store, schema, cancellationToken).ConfigureAwait(false);
            return 0;
        }).ConfigureAwait(false));
        return command;
    }

    private static Command Retrieve(Option<string> data, Option<bool> json)
    {
        var query = new Argument<string>("query") { Description = "The query text." };
        var asUser = new Option<string>("--as") { Description = "The user to retrieve for.", Required = true };
        var agent = new Option<string?>("--agent") { Description = "An agent acting on behalf of the user." };
        var purpose = new Option<string?>("--purpose") { Description = "Why the data is needed." };
        var destination = new Option<string?>("--destination") { Description = "Where the data goes: internal or an external model (default: external)." };
        var top = new Option<int>("--top") { Description = "How many chunks.", DefaultValueFactory = _ => 5 };
        var mode = new Option<string>("--mode") { Description = "How the store ranks chunks: vector (default), keyword or hybrid.", DefaultValueFactory = _ => "vector" };
        var command = new Command("retrieve", "Retrieve as a user, through the same policy, filters and audit as the server.") { query, asUser, agent, purpose, destination, top, mode };
        command.SetAction(async (parse, cancellationToken) => await Guarded(async () =>
        {
            await using var runtime = await CopilotGuardRuntime.OpenAsync(new DataFolder(parse.GetValue(data)!), cancellationToken: cancellationToken).ConfigureAwait(false);
            var result = await runtime.Broker.RetrieveAsync(
                new RetrievalRequest
                {
                    Caller = new CallerIdentity(parse.GetValue(asUser)!, parse.GetValue(agent)),
                    Query = parse.GetValue(query)!,
                    Top = parse.GetValue(top),
                    Mode = RetrievalModes.TryParse(parse.GetValue(mode), out var parsedMode)
                        ? parsedMode
                        : throw new GuardException(GuardErrorKind.InvalidRequest, RetrievalModes.UnknownModeMessage),
                    Purpose = parse.GetValue(purpose),
                    Destination = parse.GetValue(destination),
                    ClientAddress = "cli",
                },
                cancellationToken).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(
                    new
                    {
                        receiptId = result.ReceiptId,
                        chunks = result.Chunks.Select(static c => new { id = c.Chunk.Id, documentId = c.Chunk.DocumentId, source = c.Chunk.Source, label = c.Chunk.Label.Name, score = c.Score, title = c.Chunk.Title, text = c.Chunk.Text, fields = c.Chunk.Fields }),
                    },
                    Json));
                return 0;
            }

            AnsiConsole.MarkupLine($"Receipt [bold]{result.ReceiptId}[/]: {result.Chunks.Length} chunk(s)");
            var table = new Table().AddColumns("score", "chunk", "source", "label", "title");
            foreach (var chunk in result.Chunks)
            {
                table.AddRow(chunk.Score.ToString("F3", System.Globalization.CultureInfo.InvariantCulture), Markup.Escape(chunk.Chunk.Id), chunk.Chunk.Source, chunk.Chunk.Label.Name, Markup.Escape(chunk.Chunk.Title ?? string.Empty));
            }

            AnsiConsole.Write(table);
            return 0;
        }).ConfigureAwait(false));
        return command;
    }

    /// <summary>Tells whether opening the folder will seed the store configured in the environment (for progress display only).</summary>
    /// <summary>The server's token lifetime cap, from <c>CopilotGuard__Identity__MaxTokenLifetime</c> when set (as the server reads it).</summary>
    internal static TimeSpan MaxTokenLifetime() =>
        Environment.GetEnvironmentVariable("CopilotGuard__Identity__MaxTokenLifetime") is { } text
        && TimeSpan.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var max) && max > TimeSpan.Zero
            ? max
            : new CopilotGuard.Hosting.Identity.CopilotGuardIdentityOptions().MaxTokenLifetime;

    internal static bool NeedsSeeding(DataFolder folder) =>
        !File.Exists(folder.GetSeededMarkerPath(ProviderSettings.FromEnvironment().Store.Identity));

    internal static async Task<int> Guarded(Func<Task<int>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (Exception exception) when (exception is PolicyValidationException or IngestionException or Typing.StoredAttributeTypeException or GuardException or Anonymization.AnonymizationConfigurationException or FileNotFoundException or DirectoryNotFoundException or OptionsValidationException or System.Data.Common.DbException)
        {
            await Console.Error.WriteLineAsync($"copilotguard: {exception.Message}").ConfigureAwait(false);
            return exception is GuardException { Kind: GuardErrorKind.Forbidden } ? 3 : 2;
        }
    }
}
