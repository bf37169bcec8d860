using System.CommandLine;
using System.Runtime.CompilerServices;
using System.Text.Json;
using CopilotGuard.Audit;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Retrieval;
using CopilotGuard.Hosting.Admin;
using CopilotGuard.Hosting;
using CopilotGuard.Hosting.Identity;
using Microsoft.Extensions.Configuration;
using Spectre.Console;

namespace CopilotGuard.Cli;

/// <summary>The zero-trust verbs: <c>admin suspend|resume|suspended</c> (the kill switch on the data folder) and
/// <c>anomaly replay</c> (what anomaly detection would have flagged in the audit log).</summary>
internal static class AdminCommands
{
    public static IEnumerable<Command> Build(Option<string> data, Option<bool> json) => [Admin(data, json), Anomaly(data, json)];

    private static Command Admin(Option<string> data, Option<bool> json)
    {
        var asUser = new Option<string>("--as") { Description = "The security administrator making the change (a directory principal with the security-admin role).", Required = true, Recursive = true };
        var command = new Command("admin", "Suspend and resume users and agents (the kill switch); every change is audited.") { asUser };
        var id = new Argument<string>("principal") { Description = "The user or agent id." };
        var reason = new Option<string?>("--reason") { Description = "Why; shown to the suspended caller." };
        var suspend = new Command("suspend", "Suspend a principal: its next request, on every instance sharing the data folder, is refused.") { id, reason };
        suspend.SetAction(async (parse, cancellationToken) => await Run(parse, data, asUser, async (runtime, admin) =>
        {
            var (suspension, receipt) = await runtime.Verification.KillSwitch.SuspendAsync(parse.GetValue(id)!, parse.GetValue(reason), admin, cancellationToken).ConfigureAwait(false);
            Print(parse.GetValue(json), new PrincipalStateResponse(suspension.PrincipalId, true, suspension.Reason, admin, suspension.Since, receipt));
            return 0;
        }, cancellationToken).ConfigureAwait(false));
        var resume = new Command("resume", "Lift a principal's suspension.") { id };
        resume.SetAction(async (parse, cancellationToken) => await Run(parse, data, asUser, async (runtime, admin) =>
        {
            var (was, receipt) = await runtime.Verification.KillSwitch.ResumeAsync(parse.GetValue(id)!, admin, cancellationToken).ConfigureAwait(false);
            Print(parse.GetValue(json), new PrincipalStateResponse(parse.GetValue(id)!, false, was ? "resumed" : "was not suspended", admin, null, receipt));
            return 0;
        }, cancellationToken).ConfigureAwait(false));
        var list = new Command("suspended", "List suspended principals.");
        list.SetAction(async (parse, cancellationToken) => await Run(parse, data, asUser, async (runtime, _) =>
        {
            foreach (var s in await runtime.Verification.State.ListSuspensionsAsync(cancellationToken).ConfigureAwait(false))
            {
                Print(parse.GetValue(json), new PrincipalStateResponse(s.PrincipalId, true, s.Reason, s.SuspendedBy, s.Since, null));
            }

            return 0;
        }, cancellationToken).ConfigureAwait(false));
        command.Subcommands.Add(suspend);
        command.Subcommands.Add(resume);
        command.Subcommands.Add(list);
        return command;
    }

    private static Command Anomaly(Option<string> data, Option<bool> json)
    {
        var from = new Option<string?>("--from") { Description = "Replay a JSON-lines file from `audit export` instead of the data folder's audit log." };
        var settings = new Option<string[]>("--set") { Description = "Override an anomaly setting, e.g. --set HighThreshold=10 (same names as CopilotGuard:Anomaly).", AllowMultipleArgumentsPerToken = false };
        var replay = new Command("replay", "Feed past audit records through anomaly detection and print what it would have flagged (nothing is changed).") { from, settings };
        replay.SetAction(async (parse, cancellationToken) => await CliApp.Guarded(async () =>
        {
            await using var runtime = await CopilotGuardRuntime.OpenAsync(new DataFolder(parse.GetValue(data)!), seed: false, cancellationToken: cancellationToken).ConfigureAwait(false);
            var configuration = new ConfigurationBuilder()
                .AddEnvironmentVariables()
                .AddInMemoryCollection((parse.GetValue(settings) ?? []).Select(static s => s.Split('=', 2)).Where(static p => p.Length == 2)
                    .Select(static p => new KeyValuePair<string, string?>("CopilotGuard:Anomaly:" + p[0], p[1])))
                .Build();
            var options = ContinuousVerificationSettings.Bind(configuration).Anomaly;
            var records = parse.GetValue(from) is { } file ? ReadFileAsync(file, cancellationToken) : ReadLogAsync(runtime.Audit, cancellationToken);
            var findings = new List<ReplayedFinding>();
            await foreach (var finding in AnomalyReplay.ReplayAsync(records, options, runtime.Directory, AnomalyResponder.StoreSourceLookup(runtime.Store), cancellationToken).ConfigureAwait(false))
            {
                findings.Add(finding);
            }

            if (parse.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(
                    findings.Select(static f => new
                    {
                        recordId = f.Record.RecordId,
                        time = f.Finding.Time,
                        principal = f.Finding.PrincipalId,
                        severity = f.Finding.Severity.ToString(),
                        metric = f.Finding.Metric,
                        value = f.Finding.Value,
                        expected = f.Finding.Expected,
                        baseline = f.Finding.Baseline,
                        detail = f.Finding.Detail,
                        responses = f.Responses.Select(static r => r.ToString()),
                    }),
                    CliApp.Json));
                return 0;
            }

            var table = new Table().AddColumns("time", "principal", "severity", "metric", "detail", "would");
            foreach (var f in findings)
            {
                table.AddRow(
                    Markup.Escape(f.Finding.Time.ToString("u", System.Globalization.CultureInfo.InvariantCulture)),
                    Markup.Escape(f.Finding.PrincipalId),
                    f.Finding.Severity.ToString(),
                    Markup.Escape(f.Finding.Metric),
                    Markup.Escape(f.Finding.Detail),
                    Markup.Escape(string.Join(", ", f.Responses)));
            }

            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"{findings.Count} finding(s): {string.Join(", ", findings.GroupBy(static f => f.Finding.Severity).OrderByDescending(static g => g.Key).Select(static g => $"{g.Count()} {g.Key}"))}");
            return 0;
        }).ConfigureAwait(false));
        var command = new Command("anomaly", "Anomaly detection tools.");
        command.Subcommands.Add(replay);
        return command;
    }

    private static async IAsyncEnumerable<AuditRecord> ReadLogAsync(IAuditReader reader, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var entry in reader.ReadAsync(0, cancellationToken).WithCancellation(cancellationToken).ConfigureAwait(false))
        {
            yield return AuditJson.Deserialize(entry.Payload.Span);
        }
    }

    private static async IAsyncEnumerable<AuditRecord> ReadFileAsync(string path, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await foreach (var line in File.ReadLinesAsync(path, cancellationToken).ConfigureAwait(false))
        {
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            using var document = JsonDocument.Parse(line);
            var element = document.RootElement.TryGetProperty("record", out var record) ? record : document.RootElement;
            yield return AuditJson.Deserialize(System.Text.Encoding.UTF8.GetBytes(element.GetRawText()));
        }
    }

    private static async Task<int> Run(ParseResult parse, Option<string> data, Option<string> asUser, Func<CopilotGuardRuntime, string, Task<int>> action, CancellationToken cancellationToken) =>
        await CliApp.Guarded(async () =>
        {
            await using var runtime = await CopilotGuardRuntime.OpenAsync(new DataFolder(parse.GetValue(data)!), seed: false, cancellationToken: cancellationToken).ConfigureAwait(false);
            var admin = await runtime.Broker.ResolveCallerAsync(new CallerIdentity(parse.GetValue(asUser)!), cancellationToken).ConfigureAwait(false);
            var isAdmin = admin.Subject.Attributes.TryGet("roles", out var roles) && roles.Any(static r => r.Kind == AttributeKind.String && r.Text == AdminApi.SecurityAdminRole);
            if (!isAdmin || admin.Subject.Kind != PrincipalKind.User)
            {
                throw new GuardException(GuardErrorKind.Forbidden, $"'{admin.Subject.Id}' does not hold the {AdminApi.SecurityAdminRole} role.");
            }

            await runtime.Verification.SuspensionGate.CheckAsync(admin, new AccessRequest("admin", null, "internal"), cancellationToken).ConfigureAwait(false);
            return await action(runtime, admin.Subject.Id).ConfigureAwait(false);
        }).ConfigureAwait(false);

    private static void Print(bool json, PrincipalStateResponse state)
    {
        if (json)
        {
            Console.WriteLine(JsonSerializer.Serialize(state, CliApp.Json));
            return;
        }

        AnsiConsole.MarkupLine($"[bold]{Markup.Escape(state.PrincipalId)}[/]: {(state.Suspended ? "[red]suspended[/]" : "[green]active[/]")} ({Markup.Escape(state.Reason)}; by {Markup.Escape(state.By)}; receipt {Markup.Escape(state.ReceiptId ?? "-")})");
    }
}
