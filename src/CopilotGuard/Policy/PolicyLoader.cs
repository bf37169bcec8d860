using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using CopilotGuard.Labels;
using CopilotGuard.Typing;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CopilotGuard.Policy;

/// <summary>One problem found in a policy file.</summary>
/// <param name="File">The file name.</param>
/// <param name="Line">The 1-based line, or 0 when the problem concerns the whole file.</param>
/// <param name="RuleId">The rule concerned, if any.</param>
/// <param name="Message">What is wrong.</param>
public sealed record PolicyError(string File, int Line, string? RuleId, string Message)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"{File}{(Line > 0 ? $":{Line}" : string.Empty)}{(RuleId is null ? string.Empty : $" (rule '{RuleId}')")}: {Message}";
}

/// <summary>Thrown when a policy bundle does not load; lists every problem found.</summary>
public sealed class PolicyValidationException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PolicyValidationException()
        : this([])
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public PolicyValidationException(string message)
        : base(message) => Errors = [];

    /// <summary>Creates the exception with a message and cause.</summary>
    public PolicyValidationException(string message, Exception innerException)
        : base(message, innerException) => Errors = [];

    /// <summary>Creates the exception from the problems found.</summary>
    public PolicyValidationException(IReadOnlyList<PolicyError> errors)
        : base(FormatMessage(errors)) => Errors = errors;

    /// <summary>Gets every problem found.</summary>
    public IReadOnlyList<PolicyError> Errors { get; }

    private static string FormatMessage(IReadOnlyList<PolicyError> errors) =>
        $"The policy bundle is invalid ({errors.Count} problem{(errors.Count == 1 ? string.Empty : "s")}):{Environment.NewLine}" +
        string.Join(Environment.NewLine, errors.Select(static error => "  " + error));
}

/// <summary>Loads and validates a policy bundle from YAML files.</summary>
public sealed class PolicyLoader
{
    /// <summary>The only file format version understood.</summary>
    public const string ApiVersion = "copilotguard/v1";

    private static readonly ImmutableHashSet<string> FileKeys = ["apiVersion", "version", "description", "rules", "obligations", "deanonymization"];
    private static readonly ImmutableHashSet<string> RuleKeys = ["id", "effect", "description", "when"];
    private static readonly ImmutableHashSet<string> DeanonymizationKeys = ["id", "description", "when"];

    private readonly LabelTaxonomy _labels;
    private readonly ExpressionParser _parser;
    private readonly AttributeSchema _schema;

    /// <summary>Creates a loader that types label comparisons with the given taxonomy and checks conditions against the
    /// built-in attributes only (<see cref="AttributeSchema.BuiltIn"/>).</summary>
    public PolicyLoader(LabelTaxonomy labels)
        : this(labels, null)
    {
    }

    /// <summary>Creates a loader that types label comparisons with the given taxonomy and checks every condition
    /// (rules, obligations, de-anonymization grants) against an attribute schema.</summary>
    /// <param name="labels">The label taxonomy.</param>
    /// <param name="schema">The attribute schema; <see cref="AttributeSchema.BuiltIn"/> when null.</param>
    public PolicyLoader(LabelTaxonomy labels, AttributeSchema? schema)
    {
        _labels = labels ?? throw new ArgumentNullException(nameof(labels));
        _parser = new ExpressionParser(labels);
        _schema = schema ?? AttributeSchema.BuiltIn;
    }

    /// <summary>Loads every <c>*.yaml</c>/<c>*.yml</c> file of a folder (not recursive, test files excluded) as one bundle.</summary>
    /// <exception cref="PolicyValidationException">Any file is invalid; every problem is listed.</exception>
    public async Task<PolicyBundle> LoadDirectoryAsync(string directory, CancellationToken cancellationToken)
    {
        if (!Directory.Exists(directory))
        {
            throw new PolicyValidationException([new PolicyError(directory, 0, null, "the policy folder does not exist")]);
        }

        var files = new List<(string Name, string Content)>();
        foreach (var path in Directory.EnumerateFiles(directory)
                     .Where(static path => (path.EndsWith(".yaml", StringComparison.OrdinalIgnoreCase) || path.EndsWith(".yml", StringComparison.OrdinalIgnoreCase))
                                           && !Path.GetFileName(path).Contains(".test.", StringComparison.OrdinalIgnoreCase))
                     .Order(StringComparer.Ordinal))
        {
            files.Add((Path.GetFileName(path), await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false)));
        }

        return Load(files);
    }

    /// <summary>Loads a bundle from named YAML texts.</summary>
    /// <exception cref="PolicyValidationException">Any file is invalid; every problem is listed.</exception>
    public PolicyBundle Load(IReadOnlyList<(string Name, string Content)> files)
    {
        ArgumentNullException.ThrowIfNull(files);
        var errors = new List<PolicyError>();
        var rules = ImmutableArray.CreateBuilder<PolicyRule>();
        var obligations = ImmutableArray.CreateBuilder<Obligations.ObligationRule>();
        var deanonymization = ImmutableArray.CreateBuilder<PolicyRule>();
        var versions = new SortedSet<string>(StringComparer.Ordinal);
        if (files.Count == 0)
        {
            errors.Add(new PolicyError("(bundle)", 0, null, "no policy files were found; with no rules every request would be denied"));
        }

        foreach (var (name, content) in files)
        {
            LoadFile(name, content, rules, obligations, deanonymization, versions, errors);
        }

        foreach (var duplicate in rules.GroupBy(static rule => rule.Id, StringComparer.Ordinal).Where(static group => group.Count() > 1))
        {
            foreach (var rule in duplicate.Skip(1))
            {
                errors.Add(new PolicyError(rule.File, rule.Line, rule.Id, $"rule id '{rule.Id}' is already used in {duplicate.First().File}:{duplicate.First().Line}"));
            }
        }

        if (versions.Count > 1)
        {
            errors.Add(new PolicyError("(bundle)", 0, null, $"the files declare different versions ({string.Join(", ", versions)}); a bundle has one version"));
        }

        if (errors.Count > 0)
        {
            throw new PolicyValidationException(errors);
        }

        foreach (var duplicate in obligations.GroupBy(static o => o.Id, StringComparer.Ordinal).Where(static group => group.Count() > 1))
        {
            foreach (var obligation in duplicate.Skip(1))
            {
                errors.Add(new PolicyError(obligation.File, obligation.Line, obligation.Id, $"obligation id '{obligation.Id}' is already used in {duplicate.First().File}:{duplicate.First().Line}"));
            }
        }

        if (errors.Count > 0)
        {
            throw new PolicyValidationException(errors);
        }

        return new PolicyBundle(versions.Count == 1 ? versions.Min! : "unversioned", Hash(files), rules.ToImmutable(), _labels, obligations.ToImmutable(), deanonymization.ToImmutable());
    }

    private void LoadFile(string name, string content, ImmutableArray<PolicyRule>.Builder rules, ImmutableArray<Obligations.ObligationRule>.Builder obligations, ImmutableArray<PolicyRule>.Builder deanonymization, SortedSet<string> versions, List<PolicyError> errors)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(content));
        }
        catch (YamlException exception)
        {
            errors.Add(new PolicyError(name, (int)exception.Start.Line, null, $"not valid YAML: {exception.Message}"));
            return;
        }

        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            errors.Add(new PolicyError(name, 0, null, "a policy file holds one YAML mapping with apiVersion, version and rules"));
            return;
        }

        ReportUnknownKeys(name, root, FileKeys, null, errors);
        var apiVersion = Scalar(root, "apiVersion");
        if (apiVersion != ApiVersion)
        {
            errors.Add(new PolicyError(name, Line(root), null, $"apiVersion must be '{ApiVersion}' but is '{apiVersion ?? "(missing)"}'"));
        }

        var version = Scalar(root, "version");
        if (string.IsNullOrWhiteSpace(version))
        {
            errors.Add(new PolicyError(name, Line(root), null, "version is required"));
        }
        else
        {
            versions.Add(version);
        }

        if (root.Children.TryGetValue(new YamlScalarNode("obligations"), out var obligationsNode))
        {
            if (obligationsNode is YamlSequenceNode obligationList)
            {
                var first = obligations.Count;
                Obligations.ObligationParser.Parse(name, obligationList, _parser, obligations, errors);
                for (var i = first; i < obligations.Count; i++)
                {
                    CheckTypes(obligations[i].Condition, name, obligations[i].Line, obligations[i].Id, errors);
                }
            }
            else
            {
                errors.Add(new PolicyError(name, Line(obligationsNode), null, "obligations must be a list"));
            }
        }

        if (root.Children.TryGetValue(new YamlScalarNode("deanonymization"), out var deanonymizationNode))
        {
            if (deanonymizationNode is YamlSequenceNode grants)
            {
                foreach (var grant in grants)
                {
                    if (grant is not YamlMappingNode grantMap || Scalar(grantMap, "id") is not { Length: > 0 } grantId)
                    {
                        errors.Add(new PolicyError(name, Line(grant), null, "each de-anonymization grant is a mapping with id and when"));
                        continue;
                    }

                    ReportUnknownKeys(name, grantMap, DeanonymizationKeys, grantId, errors);
                    try
                    {
                        var when = Scalar(grantMap, "when") ?? "false";
                        var grantCondition = _parser.Parse(when);
                        if (CheckTypes(grantCondition, name, LineOf(grantMap, "when"), grantId, errors))
                        {
                            deanonymization.Add(new PolicyRule(grantId, PolicyEffect.Allow, grantCondition, when, Scalar(grantMap, "description"), name, Line(grantMap)));
                        }
                    }
                    catch (PolicySyntaxException exception)
                    {
                        errors.Add(new PolicyError(name, Line(grantMap), grantId, $"in 'when' {exception.Message}"));
                    }
                }
            }
            else
            {
                errors.Add(new PolicyError(name, Line(deanonymizationNode), null, "deanonymization must be a list of {id, when}"));
            }
        }

        if (!root.Children.TryGetValue(new YamlScalarNode("rules"), out var rulesNode))
        {
            if (!root.Children.ContainsKey(new YamlScalarNode("obligations")) && !root.Children.ContainsKey(new YamlScalarNode("deanonymization")))
            {
                errors.Add(new PolicyError(name, Line(root), null, "a policy file needs rules or obligations"));
            }

            return;
        }

        if (rulesNode is not YamlSequenceNode sequence)
        {
            errors.Add(new PolicyError(name, Line(root), null, "rules must be a list"));
            return;
        }

        foreach (var node in sequence)
        {
            if (node is not YamlMappingNode ruleNode)
            {
                errors.Add(new PolicyError(name, Line(node), null, "each rule is a mapping with id, effect and when"));
                continue;
            }

            var id = Scalar(ruleNode, "id");
            var line = Line(ruleNode);
            ReportUnknownKeys(name, ruleNode, RuleKeys, id, errors);
            if (string.IsNullOrWhiteSpace(id))
            {
                errors.Add(new PolicyError(name, line, null, "id is required"));
            }

            PolicyEffect? effect = Scalar(ruleNode, "effect") switch
            {
                "allow" => PolicyEffect.Allow,
                "deny" => PolicyEffect.Deny,
                var other => null,
            };
            if (effect is null)
            {
                errors.Add(new PolicyError(name, line, id, $"effect must be 'allow' or 'deny' but is '{Scalar(ruleNode, "effect") ?? "(missing)"}'"));
            }

            var when = Scalar(ruleNode, "when");
            Expression? condition = null;
            if (string.IsNullOrWhiteSpace(when))
            {
                errors.Add(new PolicyError(name, line, id, "when (the condition) is required"));
            }
            else
            {
                try
                {
                    condition = _parser.Parse(when);
                    if (!CheckTypes(condition, name, LineOf(ruleNode, "when"), id, errors))
                    {
                        condition = null;
                    }
                }
                catch (PolicySyntaxException exception)
                {
                    errors.Add(new PolicyError(name, LineOf(ruleNode, "when"), id, $"in 'when' {exception.Message}"));
                }
            }

            if (!string.IsNullOrWhiteSpace(id) && effect is not null && condition is not null)
            {
                rules.Add(new PolicyRule(id, effect.Value, condition, when!, Scalar(ruleNode, "description"), name, line));
            }
        }
    }

    /// <summary>Adds a problem for each type error of a condition; returns whether it is well typed.</summary>
    private bool CheckTypes(Expression condition, string file, int line, string? id, List<PolicyError> errors)
    {
        var problems = PolicyTypeChecker.Check(condition, _schema);
        foreach (var problem in problems)
        {
            errors.Add(new PolicyError(file, line, id, $"in 'when' {problem}"));
        }

        return problems.Count == 0;
    }

    private static void ReportUnknownKeys(string file, YamlMappingNode node, ImmutableHashSet<string> known, string? ruleId, List<PolicyError> errors)
    {
        foreach (var key in node.Children.Keys)
        {
            if (key is not YamlScalarNode { Value: { } name } || !known.Contains(name))
            {
                errors.Add(new PolicyError(file, Line(key), ruleId, $"unknown field '{(key as YamlScalarNode)?.Value}'; expected one of {string.Join(", ", known.Order(StringComparer.Ordinal))}"));
            }
        }
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;

    private static int LineOf(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? Line(value) : Line(node);

    private static int Line(YamlNode node) => (int)node.Start.Line;

    private static string Hash(IReadOnlyList<(string Name, string Content)> files)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var (name, content) in files.OrderBy(static file => file.Name, StringComparer.Ordinal))
        {
            hash.AppendData(Encoding.UTF8.GetBytes(name));
            hash.AppendData([0]);
            hash.AppendData(Encoding.UTF8.GetBytes(content));
            hash.AppendData([0]);
        }

        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
