using System.CommandLine;
using System.Text.Json;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;
using CopilotGuard.Hosting;
using CopilotGuard.Hosting.Policy;
using Spectre.Console;

namespace CopilotGuard.Cli;

/// <summary>The <c>policy</c> verbs: <c>test</c>, <c>explain</c> and <c>check</c>.</summary>
internal static class PolicyCommands
{
    /// <summary>What each store can run natively, by the names <c>policy check --store</c> accepts.</summary>
    private static readonly Dictionary<string, FilterCapabilities> StoreCapabilities = new(StringComparer.OrdinalIgnoreCase)
    {
        // Mirrors each connector's Capabilities (the CLI does not reference every connector):
        // Azure AI Search's OData has no ordinal string prefix, so startsWith stays a post-filter there.
        ["sqlite"] = FilterCapabilities.All,
        ["postgresql"] = FilterCapabilities.All,
        ["azure-ai-search"] = FilterCapabilities.All & ~FilterCapabilities.StartsWith,
        ["memory"] = FilterCapabilities.All,
    };

    public static Command Build(Option<string> data, Option<bool> json)
    {
        var command = new Command("policy", "Test, explain and check the policy bundle.");
        command.Subcommands.Add(Test(data, json));
        command.Subcommands.Add(Explain(data, json));
        command.Subcommands.Add(Check(data, json));
        return command;
    }

    private static Command Test(Option<string> data, Option<bool> json)
    {
        var directory = new Argument<string?>("dir") { Description = "The folder with *.test.yaml files (default: the data folder's policies).", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("test", "Run the policy test cases (*.test.yaml) against the bundle.") { directory };
        command.SetAction(async (parse, cancellationToken) => await CliApp.Guarded(async () =>
        {
            await using var runtime = await CopilotGuardRuntime.OpenAsync(new DataFolder(parse.GetValue(data)!), seed: false, cancellationToken: cancellationToken).ConfigureAwait(false);
            var folder = parse.GetValue(directory) ?? runtime.Data.PoliciesPath;
            var results = await runtime.CreatePolicyTestRunner().RunDirectoryAsync(folder, cancellationToken).ConfigureAwait(false);
            var failed = results.Count(static r => !r.Passed);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new { passed = results.Count - failed, failed, results }, CliApp.Json));
            }
            else
            {
                foreach (var result in results)
                {
                    Console.WriteLine(result.Passed
                        ? $"PASS {result.File}:{result.Line} {result.Name}"
                        : $"FAIL {result.File}:{result.Line} {result.Name}: {result.Message}");
                }

                Console.WriteLine($"{results.Count - failed} passed, {failed} failed");
            }

            return failed == 0 ? 0 : 1;
        }).ConfigureAwait(false));
        return command;
    }

    private static Command Explain(Option<string> data, Option<bool> json)
    {
        var chunk = new Option<string>("--chunk") { Description = "The chunk id to explain.", Required = true };
        var asUser = new Option<string>("--as") { Description = "Whose view to explain.", Required = true };
        var agent = new Option<string?>("--agent") { Description = "An agent acting for the user." };
        var by = new Option<string?>("--by") { Description = "Who asks (a security admin or compliance officer to explain someone else's view; default: --as)." };
        var purpose = new Option<string?>("--purpose") { Description = "The purpose to evaluate with." };
        var destination = new Option<string?>("--destination") { Description = "The destination to evaluate with (default: external)." };
        var command = new Command("explain", "Say which rules make a chunk visible or not to a caller, and show the pushed filter.") { chunk, asUser, agent, by, purpose, destination };
        command.SetAction(async (parse, cancellationToken) => await CliApp.Guarded(async () =>
        {
            await using var runtime = await CopilotGuardRuntime.OpenAsync(new DataFolder(parse.GetValue(data)!), seed: false, cancellationToken: cancellationToken).ConfigureAwait(false);
            var subject = new CallerIdentity(parse.GetValue(asUser)!, parse.GetValue(agent));
            var requester = parse.GetValue(by) is { } admin ? new CallerIdentity(admin) : subject;
            var explanation = await runtime.Broker.ExplainAsync(
                new ExplainRequest
                {
                    Requester = requester,
                    Subject = subject,
                    ChunkId = parse.GetValue(chunk)!,
                    Purpose = parse.GetValue(purpose),
                    Destination = parse.GetValue(destination),
                },
                cancellationToken).ConfigureAwait(false);
            var response = ExplainResponse.From(explanation);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(response, CliApp.Json));
                return 0;
            }

            AnsiConsole.MarkupLine($"{Markup.Escape(response.ChunkId)}: {(response.Visible ? "[green]visible[/]" : "[red]not visible[/]")} ({Markup.Escape(response.Reason)})");
            foreach (var principal in response.Principals ?? [])
            {
                var table = new Table().Title($"{principal.Kind} {Markup.Escape(principal.Id)}").AddColumns("rule", "effect", "outcome");
                foreach (var rule in principal.Rules)
                {
                    table.AddRow(Markup.Escape(rule.Id), rule.Effect, rule.Match);
                }

                AnsiConsole.Write(table);
            }

            foreach (var (dialect, filter) in response.Filters)
            {
                AnsiConsole.MarkupLine($"[bold]{Markup.Escape(dialect)}[/]: {Markup.Escape(filter)}");
            }

            return 0;
        }).ConfigureAwait(false));
        return command;
    }

    private static Command Check(Option<string> data, Option<bool> json)
    {
        var store = new Option<string?>("--store") { Description = $"Also say which conditions a store runs natively: {string.Join(", ", StoreCapabilities.Keys)}." };
        var corpus = new Option<string?>("--corpus") { Description = "A corpus folder whose sources' attribute declarations join the attribute schema." };
        var command = new Command("check", "Type-check the bundle against the attribute schema (attributes.yaml, directory, sources, built-ins), and say which conditions a store runs natively and which stay as post-filter.") { store, corpus };
        command.SetAction(async (parse, cancellationToken) => await CliApp.Guarded(async () =>
        {
            var name = parse.GetValue(store);
            var capabilities = FilterCapabilities.All;
            if (name is not null && !StoreCapabilities.TryGetValue(name, out capabilities))
            {
                await Console.Error.WriteLineAsync($"copilotguard: unknown store '{name}'; known stores: {string.Join(", ", StoreCapabilities.Keys)}").ConfigureAwait(false);
                return 2;
            }

            // Every problem of the bundle (types, undeclared attributes, operators) is listed by the loader's exception.
            var folder = new DataFolder(parse.GetValue(data)!);
            var labels = (await CopilotGuardRuntime.LoadLabelingAsync(folder, cancellationToken).ConfigureAwait(false)).Taxonomy;
            var (_, schema) = await CopilotGuardRuntime.LoadDirectoryAndSchemaAsync(folder, labels, parse.GetValue(corpus), cancellationToken).ConfigureAwait(false);
            var bundle = await new PolicyLoader(labels, schema).LoadDirectoryAsync(folder.PoliciesPath, cancellationToken).ConfigureAwait(false);
            var checkedSummary = $"Policy bundle {bundle.Version}: {bundle.Rules.Length} rules, {bundle.Obligations.Length} obligations and {bundle.Deanonymization.Length} de-anonymization grants type-check against the {(schema.IsClosed ? "declared" : "derived (open: no attributes.yaml)")} attribute schema.";
            if (name is null)
            {
                Console.WriteLine(parse.GetValue(json)
                    ? JsonSerializer.Serialize(new { policyVersion = bundle.Version, valid = true, closedSchema = schema.IsClosed }, CliApp.Json)
                    : checkedSummary);
                return 0;
            }

            var items = PushdownReport.Create(bundle, capabilities);
            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new { store = name, policyVersion = bundle.Version, items = items.Select(static i => new { rule = i.RuleId, condition = i.Condition, needs = i.Needs.ToString(), pushedDown = i.PushedDown }) }, CliApp.Json));
                return 0;
            }

            var table = new Table().AddColumns("rule", "condition on resource", "needs", "where");
            foreach (var item in items)
            {
                table.AddRow(Markup.Escape(item.RuleId), Markup.Escape(item.Condition), item.Needs.ToString(), item.PushedDown ? "[green]pushed down[/]" : "[yellow]post-filter[/]");
            }

            AnsiConsole.Write(table);
            Console.WriteLine(checkedSummary);
            var post = items.Count(static i => !i.PushedDown);
            Console.WriteLine($"{items.Length - post} conditions pushed down to {name}, {post} applied as post-filter (never dropped).");
            return 0;
        }).ConfigureAwait(false));
        return command;
    }
}
