using System.Collections.Immutable;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;
using CopilotGuard.Labels;
using CopilotGuard.Retrieval;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CopilotGuard.Policy;

/// <summary>The outcome of one policy test case.</summary>
/// <param name="File">The test file.</param>
/// <param name="Line">The case's line.</param>
/// <param name="Name">The case's name.</param>
/// <param name="Passed">Whether it passed.</param>
/// <param name="Message">What was expected and what happened, when it failed.</param>
public sealed record PolicyTestResult(string File, int Line, string Name, bool Passed, string? Message);

/// <summary>Runs YAML policy test cases (<c>*.test.yaml</c>), like <c>opa test</c> or Cerbos policy tests.</summary>
/// <remarks>
/// A case names a principal from the directory (and optionally an agent acting for it), a request, and either a
/// resource with <c>expect: allow|deny</c> or <c>expectResidual</c>, the residual filter in the policy language.
/// Cases are decided as retrieval decides them: principals through the same <see cref="CallerResolver"/> (directory,
/// agent registry, Microsoft Graph where configured), the destination through the same <see cref="DestinationRegistry"/>
/// (an unregistered one is the most restrictive, and its ceiling holds whatever the bundle says), and an agent the
/// registry refuses for the purpose or destination is denied everything, as retrieval refuses it.
/// </remarks>
public sealed class PolicyTestRunner
{
    private static readonly ImmutableHashSet<string> CaseKeys = ["name", "principal", "agent", "request", "resource", "expect", "expectResidual"];
    private readonly PolicyBundle _bundle;
    private readonly CallerResolver _callers;
    private readonly DestinationRegistry _destinations;
    private readonly AgentRegistryGate[] _registrations;
    private readonly ExpressionParser _parser;

    /// <summary>Creates a runner that decides as a broker does: its bundle, caller resolver, destinations and agent registry.</summary>
    /// <remarks>The runner keeps the broker's policy snapshot of the moment it is created, so all its cases run on one
    /// version even if the policy is reloaded meanwhile.</remarks>
    public PolicyTestRunner(RetrievalBroker broker)
        : this((broker ?? throw new ArgumentNullException(nameof(broker))).PolicyHolder.Current, broker)
    {
    }

    private PolicyTestRunner(PolicySnapshot snapshot, RetrievalBroker broker)
        : this(
            snapshot.Policy,
            new CallerResolver(snapshot.Entitlements, broker.Callers.ClaimAttributes),
            snapshot.Destinations,
            snapshot.Agents is { } agents ? [new AgentRegistryGate(agents)] : broker.Gates.OfType<AgentRegistryGate>())
    {
    }

    /// <summary>Creates a runner for a bundle, the resolver its cases' principals are resolved with, the registered
    /// destinations and the agent registry checks.</summary>
    /// <param name="bundle">The policy bundle.</param>
    /// <param name="callers">The caller resolver (the broker's, so that cases resolve principals as retrieval does).</param>
    /// <param name="destinations">The registered destinations; <see cref="DestinationRegistry.BuiltIn"/> when <see langword="null"/>.</param>
    /// <param name="registrations">The agent registry checks retrieval runs; none when <see langword="null"/>.</param>
    public PolicyTestRunner(PolicyBundle bundle, CallerResolver callers, DestinationRegistry? destinations = null, IEnumerable<AgentRegistryGate>? registrations = null)
    {
        _bundle = bundle ?? throw new ArgumentNullException(nameof(bundle));
        _callers = callers ?? throw new ArgumentNullException(nameof(callers));
        _destinations = destinations ?? DestinationRegistry.BuiltIn(bundle.Labels);
        _registrations = registrations?.ToArray() ?? [];
        _parser = new ExpressionParser(bundle.Labels);
    }

    /// <summary>Runs every <c>*.test.yaml</c> file in a folder.</summary>
    public async Task<IReadOnlyList<PolicyTestResult>> RunDirectoryAsync(string directory, CancellationToken cancellationToken)
    {
        var results = new List<PolicyTestResult>();
        var files = Directory.Exists(directory)
            ? Directory.EnumerateFiles(directory, "*.test.yaml").Concat(Directory.EnumerateFiles(directory, "*.test.yml")).Order(StringComparer.Ordinal).ToList()
            : [];
        if (files.Count == 0)
        {
            results.Add(new PolicyTestResult(directory, 0, "(discovery)", false, "no *.test.yaml files were found"));
        }

        foreach (var file in files)
        {
            results.AddRange(await RunAsync(Path.GetFileName(file), await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false), cancellationToken).ConfigureAwait(false));
        }

        return results;
    }

    /// <summary>Runs the cases of one test file.</summary>
    public async Task<IReadOnlyList<PolicyTestResult>> RunAsync(string file, string yaml, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException exception)
        {
            return [new PolicyTestResult(file, (int)exception.Start.Line, "(file)", false, $"not valid YAML: {exception.Message}")];
        }

        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root
            || !root.Children.TryGetValue(new YamlScalarNode("tests"), out var testsNode) || testsNode is not YamlSequenceNode tests)
        {
            return [new PolicyTestResult(file, 0, "(file)", false, "a test file is a mapping with a 'tests' list")];
        }

        var results = new List<PolicyTestResult>();
        foreach (var node in tests)
        {
            var line = (int)node.Start.Line;
            if (node is not YamlMappingNode testCase)
            {
                results.Add(new PolicyTestResult(file, line, "(case)", false, "each case is a mapping"));
                continue;
            }

            var name = Scalar(testCase, "name") ?? $"case at line {line}";
            try
            {
                var message = await RunCaseAsync(testCase, cancellationToken).ConfigureAwait(false);
                results.Add(new PolicyTestResult(file, line, name, message is null, message));
            }
            catch (Exception exception) when (exception is PolicySyntaxException or FormatException or ArgumentException or KeyNotFoundException)
            {
                results.Add(new PolicyTestResult(file, line, name, false, exception.Message));
            }
        }

        return results;
    }

    private async Task<string?> RunCaseAsync(YamlMappingNode testCase, CancellationToken cancellationToken)
    {
        foreach (var key in testCase.Children.Keys.OfType<YamlScalarNode>().Where(static key => !CaseKeys.Contains(key.Value ?? string.Empty)))
        {
            return $"unknown field '{key.Value}'; expected one of {string.Join(", ", CaseKeys.Order(StringComparer.Ordinal))}";
        }

        var principalId = Scalar(testCase, "principal") ?? throw new FormatException("principal (a directory id) is required");
        var agentId = Scalar(testCase, "agent");
        var requestMap = testCase.Children.TryGetValue(new YamlScalarNode("request"), out var requestNode) ? requestNode as YamlMappingNode : null;
        var purpose = requestMap is null ? null : Scalar(requestMap, "purpose");
        var destination = _destinations.Resolve(requestMap is null ? null : Scalar(requestMap, "destination"));
        var request = RetrievalBroker.RequestAttributes(purpose, destination.Id);

        // The subject alone must resolve (a misspelt principal is an error in the test, not a denial); with the agent,
        // a refusal (unknown or unregistered agent, or one the registry refuses for this purpose or destination) is
        // what retrieval answers: nothing.
        string? refusal = null;
        CallerPrincipals? caller = null;
        try
        {
            await _callers.ResolveAsync(new CallerIdentity(principalId), cancellationToken).ConfigureAwait(false);
        }
        catch (RetrievalException exception) when (exception.Kind == RetrievalErrorKind.Forbidden)
        {
            throw new KeyNotFoundException($"principal '{principalId}' is not in the directory");
        }

        try
        {
            caller = await _callers.ResolveAsync(new CallerIdentity(principalId, agentId), cancellationToken).ConfigureAwait(false);
            refusal = _registrations.Select(gate => gate.Refusal(caller, purpose, destination.Id)).FirstOrDefault(static r => r is not null);
        }
        catch (RetrievalException exception) when (exception.Kind == RetrievalErrorKind.Forbidden)
        {
            refusal = exception.Message;
        }

        var residual = refusal is null ? destination.Constrain(_bundle.Decide(caller!, request), _bundle.Labels) : FilterNode.False;

        if (Scalar(testCase, "expectResidual") is { } expectedText)
        {
            var expected = FilterFormatter.Format(Filters.ToNegationNormalForm(
                PartialEvaluator.Evaluate(_parser.ParseResidual(expectedText), AttributeSet.Empty, AttributeSet.Empty)));
            var actual = FilterFormatter.Format(residual);
            return expected == actual ? null : $"expected residual {expected} but got {actual}";
        }

        var expect = Scalar(testCase, "expect") switch
        {
            "allow" => true,
            "deny" => false,
            var other => throw new FormatException($"expect must be allow or deny (or give expectResidual), not '{other}'"),
        };
        if (!testCase.Children.TryGetValue(new YamlScalarNode("resource"), out var resourceNode) || resourceNode is not YamlMappingNode resourceMap)
        {
            return "resource (a mapping of attributes) is required with expect";
        }

        var resource = ReadResource(resourceMap, _bundle.Labels);
        if (refusal is not null)
        {
            return expect ? $"expected allow but got deny: refused: {refusal}" : null;
        }

        var explanation = destination.Constrain(_bundle.Explain(caller!, request, resource), resource, _bundle.Labels);
        return explanation.Visible == expect
            ? null
            : $"expected {(expect ? "allow" : "deny")} but got {(explanation.Visible ? "allow" : "deny")}: {explanation.Reason}";
    }

    /// <summary>Reads a test case's resource attributes with the same typer as ingestion: the YAML core schema, and the
    /// built-in resource attributes' kinds (<c>label</c> a label name, <c>version</c> a number, ...).</summary>
    private static AttributeSet ReadResource(YamlMappingNode map, LabelTaxonomy labels)
    {
        var builder = new AttributeSetBuilder();
        var builtIns = Typing.AttributeSchema.BuiltIn[AttributeScope.Resource];
        foreach (var (keyNode, valueNode) in map.Children)
        {
            var name = ((YamlScalarNode)keyNode).Value ?? string.Empty;
            var problems = new List<(int Line, string Message)>();
            var values = Typing.YamlScalarTyper.ReadValues(valueNode, name, builtIns.TryGetValue(name, out var declared) ? declared.Kind : null, labels, problems);
            if (problems.Count > 0)
            {
                throw new FormatException($"line {problems[0].Line}: resource {problems[0].Message}");
            }

            builder.Declare(name);
            foreach (var value in values)
            {
                builder.Add(name, value);
            }
        }

        return builder.Build();
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;
}
