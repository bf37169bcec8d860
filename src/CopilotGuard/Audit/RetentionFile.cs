using System.Collections.Immutable;
using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using CopilotGuard.Labels;
using CopilotGuard.Policy;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CopilotGuard.Audit;

/// <summary>Reads and validates the audit retention file (<c>retention.yaml</c>, <c>schemas/retention.schema.json</c>),
/// listing every problem with its file and line.</summary>
/// <remarks>Format: <c>apiVersion: copilotguard/v1</c>, <c>default: &lt;maxAge&gt;</c> and <c>classes:</c>, a list of
/// <c>{name, maxAge, purposes?, labels?, kinds?, description?}</c>. A maximum age is <c>forever</c>, an ISO 8601 duration
/// (<c>P400D</c>, <c>P1Y6M</c>, <c>PT12H</c>) or a number with a unit: <c>h</c>, <c>d</c>, <c>w</c>, <c>mo</c>, <c>y</c>
/// (<c>90d</c>, <c>18mo</c>, <c>7y</c>). Without a retention file nothing ever expires.</remarks>
public static partial class RetentionFile
{
    /// <summary>The retention file's name in the data folder.</summary>
    public const string FileName = "retention.yaml";

    private static readonly ImmutableHashSet<string> FileKeys = ["apiVersion", "description", "default", "classes"];
    private static readonly ImmutableHashSet<string> ClassKeys = ["name", "description", "maxAge", "purposes", "labels", "kinds"];
    private static readonly ImmutableHashSet<string> ReservedNames = [AuditRetentionPolicy.DefaultClass, AuditRetentionPolicy.HeldClass, AuditRecordKinds.Retention, AuditRecordKinds.Expired];

    /// <summary>Reads a retention file.</summary>
    /// <exception cref="PolicyValidationException">The file is invalid; every problem is listed.</exception>
    public static async Task<AuditRetentionPolicy> LoadAsync(string path, LabelTaxonomy taxonomy, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return Parse(Path.GetFileName(path), await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false), taxonomy);
    }

    /// <summary>Parses and validates a retention file's text.</summary>
    /// <param name="name">The file name, for error messages and the retention records.</param>
    /// <param name="yaml">The file's text.</param>
    /// <param name="taxonomy">The label taxonomy label rules must name labels of.</param>
    /// <exception cref="PolicyValidationException">The text is invalid; every problem is listed.</exception>
    public static AuditRetentionPolicy Parse(string name, string yaml, LabelTaxonomy taxonomy)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(yaml);
        ArgumentNullException.ThrowIfNull(taxonomy);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException exception)
        {
            throw new PolicyValidationException([new PolicyError(name, (int)exception.Start.Line, null, $"not valid YAML: {exception.Message}")]);
        }

        if (stream.Documents.Count != 1 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new PolicyValidationException([new PolicyError(name, 0, null, "a retention file is one mapping with apiVersion, default and classes")]);
        }

        var errors = new List<PolicyError>();
        Unknown(name, root, FileKeys, null, errors);
        if (Scalar(root, "apiVersion") != PolicyLoader.ApiVersion)
        {
            errors.Add(new PolicyError(name, Line(root, "apiVersion"), null, $"apiVersion must be '{PolicyLoader.ApiVersion}'"));
        }

        AuditRetentionPeriod? defaultAge = null;
        if (!root.Children.TryGetValue(new YamlScalarNode("default"), out var defaultNode))
        {
            errors.Add(new PolicyError(name, (int)root.Start.Line, null, "default (the maximum age of records no class covers) is required"));
        }
        else
        {
            defaultAge = Period(name, defaultNode, "default", null, errors);
        }

        var classes = ImmutableArray.CreateBuilder<AuditRetentionClass>();
        if (root.Children.TryGetValue(new YamlScalarNode("classes"), out var classesNode))
        {
            if (classesNode is not YamlSequenceNode list)
            {
                errors.Add(new PolicyError(name, (int)classesNode.Start.Line, null, "classes must be a list"));
            }
            else
            {
                var names = new HashSet<string>(StringComparer.Ordinal);
                foreach (var node in list)
                {
                    if (ReadClass(name, node, taxonomy, names, errors) is { } parsed)
                    {
                        classes.Add(parsed);
                    }
                }
            }
        }

        if (errors.Count > 0)
        {
            throw new PolicyValidationException(errors);
        }

        return new AuditRetentionPolicy
        {
            Classes = classes.ToImmutable(),
            Default = defaultAge!,
            Sha256 = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(yaml))),
            Source = name,
            Taxonomy = taxonomy,
        };
    }

    /// <summary>Parses a maximum age: <c>forever</c>, an ISO 8601 duration, or a number with a unit (h, d, w, mo, y).</summary>
    /// <returns>The period, or <see langword="null"/> with <paramref name="error"/> saying what is wrong.</returns>
    public static AuditRetentionPeriod? ParsePeriod(string text, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        error = null;
        var value = text.Trim();
        if (string.Equals(value, "forever", StringComparison.OrdinalIgnoreCase))
        {
            return AuditRetentionPeriod.Forever;
        }

        int years = 0, months = 0, days = 0;
        var time = TimeSpan.Zero;
        try
        {
            if (ShortPeriod().Match(value) is { Success: true } shortForm)
            {
                var n = int.Parse(shortForm.Groups[1].Value, NumberStyles.None, CultureInfo.InvariantCulture);
                switch (shortForm.Groups[2].Value.ToLowerInvariant())
                {
                    case "h": time = TimeSpan.FromHours(n); break;
                    case "d": days = n; break;
                    case "w": days = checked(n * 7); break;
                    case "mo": months = n; break;
                    default: years = n; break;
                }
            }
            else if (IsoPeriod().Match(value) is { Success: true } iso && iso.Length > 1 && !value.EndsWith('T'))
            {
                years = Part(iso, 1);
                months = Part(iso, 2);
                days = checked(Part(iso, 4) + (7 * Part(iso, 3)));
                time = TimeSpan.FromHours(Part(iso, 5)) + TimeSpan.FromMinutes(Part(iso, 6)) + TimeSpan.FromSeconds(Part(iso, 7));
            }
            else
            {
                error = $"'{text}' is not a maximum age: write forever, an ISO 8601 duration (P400D, P1Y6M, PT12H) or a number with a unit h, d, w, mo or y (90d, 18mo, 7y)";
                return null;
            }

            return AuditRetentionPeriod.Create(years, months, days, time, value);
        }
        catch (Exception exception) when (exception is OverflowException or ArgumentOutOfRangeException)
        {
            error = $"'{text}' is out of range: a maximum age is longer than zero and at most 1000 years";
            return null;
        }

        static int Part(Match match, int group) =>
            match.Groups[group].Success ? int.Parse(match.Groups[group].Value, NumberStyles.None, CultureInfo.InvariantCulture) : 0;
    }

    private static AuditRetentionClass? ReadClass(string file, YamlNode node, LabelTaxonomy taxonomy, HashSet<string> names, List<PolicyError> errors)
    {
        var line = (int)node.Start.Line;
        if (node is not YamlMappingNode map)
        {
            errors.Add(new PolicyError(file, line, null, "each class is a mapping with name, maxAge and at least one of purposes, labels, kinds"));
            return null;
        }

        var className = Scalar(map, "name");
        var errorCount = errors.Count;
        Unknown(file, map, ClassKeys, className, errors);
        if (className is null || !ClassName().IsMatch(className))
        {
            errors.Add(new PolicyError(file, Line(map, "name"), className, "name is required: lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, at most 64 characters"));
        }
        else if (ReservedNames.Contains(className))
        {
            errors.Add(new PolicyError(file, Line(map, "name"), className, $"the class name '{className}' is reserved"));
        }
        else if (!names.Add(className))
        {
            errors.Add(new PolicyError(file, Line(map, "name"), className, $"a class named '{className}' is already declared"));
        }

        AuditRetentionPeriod? maxAge = null;
        if (!map.Children.TryGetValue(new YamlScalarNode("maxAge"), out var ageNode))
        {
            errors.Add(new PolicyError(file, line, className, "maxAge is required"));
        }
        else
        {
            maxAge = Period(file, ageNode, "maxAge", className, errors);
        }

        var purposes = List(file, map, "purposes", className, errors);
        var kinds = List(file, map, "kinds", className, errors);
        var labelNames = List(file, map, "labels", className, errors);
        var labels = ImmutableArray.CreateBuilder<string>();
        foreach (var (label, labelLine) in labelNames)
        {
            if (taxonomy.TryGet(label, out var known))
            {
                labels.Add(known.Name);
            }
            else
            {
                errors.Add(new PolicyError(file, labelLine, className, $"label '{label}' is not in the taxonomy ({string.Join(", ", taxonomy.Labels.Select(static l => l.Name))})"));
            }
        }

        foreach (var (kind, kindLine) in kinds.Where(static k => k.Value is AuditRecordKinds.Retention or AuditRecordKinds.Expired))
        {
            errors.Add(new PolicyError(file, kindLine, className, $"kind '{kind}' cannot be given a retention: retention records and tombstones never expire"));
        }

        if (!new[] { "purposes", "labels", "kinds" }.Any(key => map.Children.ContainsKey(new YamlScalarNode(key))))
        {
            errors.Add(new PolicyError(file, line, className, "a class needs at least one of purposes, labels or kinds; records no class covers follow default"));
        }

        return errors.Count > errorCount ? null : new AuditRetentionClass
        {
            Name = className!,
            MaxAge = maxAge!,
            Purposes = [.. purposes.Select(static p => p.Value)],
            Labels = labels.ToImmutable(),
            Kinds = [.. kinds.Select(static k => k.Value)],
        };
    }

    private static AuditRetentionPeriod? Period(string file, YamlNode node, string key, string? className, List<PolicyError> errors)
    {
        if (node is not YamlScalarNode { Value: { Length: > 0 } text })
        {
            errors.Add(new PolicyError(file, (int)node.Start.Line, className, $"{key} must be a maximum age such as P400D, 90d, 7y or forever"));
            return null;
        }

        var period = ParsePeriod(text, out var error);
        if (period is null)
        {
            errors.Add(new PolicyError(file, (int)node.Start.Line, className, $"{key}: {error}"));
        }

        return period;
    }

    private static List<(string Value, int Line)> List(string file, YamlMappingNode map, string key, string? className, List<PolicyError> errors)
    {
        var values = new List<(string Value, int Line)>();
        if (!map.Children.TryGetValue(new YamlScalarNode(key), out var node))
        {
            return values;
        }

        if (node is not YamlSequenceNode sequence || sequence.Children.Count == 0)
        {
            errors.Add(new PolicyError(file, (int)node.Start.Line, className, $"{key} must be a non-empty list"));
            return values;
        }

        foreach (var item in sequence)
        {
            if (item is YamlScalarNode { Value: { } value } && !string.IsNullOrWhiteSpace(value) && value.Length <= 256)
            {
                values.Add((value, (int)item.Start.Line));
            }
            else
            {
                errors.Add(new PolicyError(file, (int)item.Start.Line, className, $"each entry of {key} is a non-empty text of at most 256 characters"));
            }
        }

        return values;
    }

    private static void Unknown(string file, YamlMappingNode map, ImmutableHashSet<string> allowed, string? className, List<PolicyError> errors)
    {
        foreach (var key in map.Children.Keys)
        {
            if (key is not YamlScalarNode { Value: { } text } || !allowed.Contains(text))
            {
                errors.Add(new PolicyError(file, (int)key.Start.Line, className, $"unknown field '{(key as YamlScalarNode)?.Value ?? key.ToString()}'; expected one of {string.Join(", ", allowed.Order(StringComparer.Ordinal))}"));
            }
        }
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;

    private static int Line(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? (int)value.Start.Line : (int)node.Start.Line;

    [GeneratedRegex("^([0-9]{1,9}) ?(h|d|w|mo|y)$", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex ShortPeriod();

    [GeneratedRegex("^P(?:([0-9]{1,9})Y)?(?:([0-9]{1,9})M)?(?:([0-9]{1,9})W)?(?:([0-9]{1,9})D)?(?:T(?:([0-9]{1,9})H)?(?:([0-9]{1,9})M)?(?:([0-9]{1,9})S)?)?$", RegexOptions.CultureInvariant)]
    private static partial Regex IsoPeriod();

    [GeneratedRegex("^[a-z0-9][a-z0-9._-]{0,63}$", RegexOptions.CultureInvariant)]
    private static partial Regex ClassName();
}
