using System.Globalization;
using System.Numerics;
using System.Text.RegularExpressions;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace CopilotGuard.Typing;

/// <summary>Types YAML scalars as attribute values by the YAML 1.2 core schema, the one rule every CopilotGuard file
/// (front matter, <c>source.yaml</c>, <c>directory.yaml</c>) follows.</summary>
/// <remarks>
/// A plain (unquoted) scalar is a boolean when it is <c>true</c>/<c>True</c>/<c>TRUE</c>/<c>false</c>/<c>False</c>/<c>FALSE</c>,
/// a number when it is a decimal, octal (<c>0o17</c>) or hexadecimal (<c>0x1F</c>) integer or a decimal float
/// (<c>1.5</c>, <c>-2e3</c>), and a null when it is <c>null</c>/<c>Null</c>/<c>NULL</c>/<c>~</c> or empty; anything else,
/// and every quoted or block scalar, is a string. Nulls are refused (an attribute is either present with values, an empty
/// list <c>[]</c>, or left out), as are the non-finite floats <c>.inf</c> and <c>.nan</c> and integers a number
/// attribute cannot hold exactly (beyond 2^53). Timestamps are not part of the core schema: a date stays a string unless
/// the attribute is declared <c>timestamp</c> (see <see cref="TryConvert"/>).
/// </remarks>
public static partial class YamlScalarTyper
{
    private const string CoreTagPrefix = "tag:yaml.org,2002:";

    /// <summary>The largest whole number a number attribute holds exactly (2^53).</summary>
    private static readonly BigInteger MaxExactInteger = BigInteger.Pow(2, 53);

    /// <summary>Types one scalar by the core schema.</summary>
    /// <param name="scalar">The YAML scalar.</param>
    /// <param name="value">The typed value, when the scalar is not refused.</param>
    /// <param name="problem">Why the scalar is refused (a null, a non-finite or inexact number, an unknown tag).</param>
    /// <returns>Whether the scalar has a value.</returns>
    public static bool TryType(YamlScalarNode scalar, out AttributeValue value, out string problem)
    {
        ArgumentNullException.ThrowIfNull(scalar);
        var text = scalar.Value ?? string.Empty;
        value = default;
        problem = string.Empty;
        var tag = scalar.Tag.IsEmpty ? null : scalar.Tag.Value;
        if (tag is not null && tag != "!")
        {
            switch (tag)
            {
                case CoreTagPrefix + "str":
                    return TryString(text, out value, out problem);
                case CoreTagPrefix + "bool":
                    return TryBoolean(text, out value) || Fail($"the value '{text}' is tagged !!bool but is not true or false", out problem);
                case CoreTagPrefix + "int" or CoreTagPrefix + "float":
                    return TryNumber(text, out value, out problem) switch
                    {
                        true => true,
                        false => false,
                        null => Fail($"the value '{text}' is tagged {ShortTag(tag)} but is not a number", out problem),
                    };
                case CoreTagPrefix + "null":
                    return Fail(NullProblem, out problem);
                default:
                    return Fail($"the tag {ShortTag(tag)} is not supported; attribute values are strings, numbers or booleans", out problem);
            }
        }

        if (scalar.Style is not (ScalarStyle.Plain or ScalarStyle.Any) || tag == "!")
        {
            return TryString(text, out value, out problem);
        }

        if (IsNull(text))
        {
            return Fail(NullProblem, out problem);
        }

        if (TryBoolean(text, out value))
        {
            return true;
        }

        return TryNumber(text, out value, out problem) switch
        {
            true => true,
            false => false,
            null => TryString(text, out value, out problem),
        };
    }

    /// <summary>Types one scalar for an attribute declared with a kind, converting what fits: the text of a plain
    /// number or boolean for a string, a quoted <c>"5"</c> for a number, a quoted <c>"true"</c> for a boolean, an ISO 8601
    /// date or date-time for a timestamp, a label name of the taxonomy for a label.</summary>
    /// <param name="scalar">The YAML scalar.</param>
    /// <param name="attribute">The attribute name, for the message.</param>
    /// <param name="declared">The declared kind.</param>
    /// <param name="labels">The taxonomy label names are read with.</param>
    /// <param name="value">The converted value.</param>
    /// <param name="problem">Why the value does not fit, e.g. <c>attribute 'x' is declared number but the value 'abc' is a string</c>.</param>
    /// <returns>Whether the value fits the declaration.</returns>
    public static bool TryConvert(YamlScalarNode scalar, string attribute, AttributeKind declared, LabelTaxonomy labels, out AttributeValue value, out string problem)
    {
        ArgumentNullException.ThrowIfNull(scalar);
        ArgumentNullException.ThrowIfNull(labels);
        if (!TryType(scalar, out var typed, out problem))
        {
            value = default;
            problem = $"attribute '{attribute}': {problem}";
            return false;
        }

        var text = scalar.Value ?? string.Empty;
        value = typed;
        if (typed.Kind == declared && declared != AttributeKind.Label)
        {
            return true;
        }

        var converted = (declared, typed.Kind) switch
        {
            (AttributeKind.String, _) => AttributeValue.FromString(text),
            (AttributeKind.Number, AttributeKind.String) when TryNumber(text, out var number, out _) is true => number,
            (AttributeKind.Boolean, AttributeKind.String) when TryBoolean(text, out var boolean) => boolean,
            (AttributeKind.Timestamp, AttributeKind.String) when AttributeValue.TryParseTimestamp(text, out var timestamp) => timestamp,
            (AttributeKind.Label, AttributeKind.String) when labels.TryGet(text, out var label) => label.ToAttributeValue(),
            _ => (AttributeValue?)null,
        };
        if (converted is { } fits)
        {
            value = fits;
            return true;
        }

        var hint = declared switch
        {
            AttributeKind.Timestamp when typed.Kind == AttributeKind.String => " that is not an ISO 8601 date such as 2024-03-01 or 2024-03-01T09:30:00Z",
            AttributeKind.Label when typed.Kind == AttributeKind.String => $" that is not a label; known labels: {string.Join(", ", labels.Labels.Select(static l => l.Name))}",
            _ => string.Empty,
        };
        value = default;
        problem = $"attribute '{attribute}' is declared {AttributeValue.KindName(declared)} but the value '{text}' is a {AttributeValue.KindName(typed.Kind)}{hint}";
        return false;
    }

    /// <summary>Reads an attribute's YAML value (a scalar or a list of scalars) into values, typed by the core schema or
    /// converted to a declared kind.</summary>
    /// <param name="node">The value node.</param>
    /// <param name="attribute">The attribute name, for messages.</param>
    /// <param name="declared">The declared kind, or <see langword="null"/> to type by the core schema.</param>
    /// <param name="labels">The label taxonomy.</param>
    /// <param name="problems">Receives each problem with its 1-based line.</param>
    /// <returns>The values; an empty list for <c>[]</c> (a present attribute without values).</returns>
    public static IReadOnlyList<AttributeValue> ReadValues(YamlNode node, string attribute, AttributeKind? declared, LabelTaxonomy labels, ICollection<(int Line, string Message)> problems)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(problems);
        var scalars = new List<YamlScalarNode>();
        switch (node)
        {
            case YamlScalarNode scalar:
                scalars.Add(scalar);
                break;
            case YamlSequenceNode sequence:
                foreach (var child in sequence.Children)
                {
                    if (child is YamlScalarNode item)
                    {
                        scalars.Add(item);
                    }
                    else
                    {
                        problems.Add(((int)child.Start.Line, $"attribute '{attribute}' must be a value or a list of values, not a list of lists or mappings"));
                    }
                }

                break;
            default:
                problems.Add(((int)node.Start.Line, $"attribute '{attribute}' must be a value or a list of values, not a mapping"));
                return [];
        }

        var values = new List<AttributeValue>(scalars.Count);
        foreach (var scalar in scalars)
        {
            var ok = declared is { } kind
                ? TryConvert(scalar, attribute, kind, labels, out var value, out var problem)
                : TryType(scalar, out value, out problem);
            if (ok)
            {
                values.Add(value);
            }
            else
            {
                problems.Add(((int)scalar.Start.Line, declared is null ? $"attribute '{attribute}': {problem}" : problem));
            }
        }

        return values;
    }

    private const string NullProblem = "the value is null; write [] for a present attribute without values, leave the attribute out, or quote the text";

    private static bool IsNull(string text) => text is "" or "~" or "null" or "Null" or "NULL";

    private static bool TryBoolean(string text, out AttributeValue value)
    {
        switch (text)
        {
            case "true" or "True" or "TRUE":
                value = AttributeValue.FromBoolean(true);
                return true;
            case "false" or "False" or "FALSE":
                value = AttributeValue.FromBoolean(false);
                return true;
            default:
                value = default;
                return false;
        }
    }

    /// <summary>Reads a core-schema number: true with a value, false with a problem (it is a number the attribute
    /// cannot hold), null when the text is not a number at all.</summary>
    private static bool? TryNumber(string text, out AttributeValue value, out string problem)
    {
        value = default;
        problem = string.Empty;
        BigInteger? integer = null;
        if (DecimalInteger().IsMatch(text))
        {
            integer = BigInteger.Parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        }
        else if (text.StartsWith("0o", StringComparison.Ordinal) && OctalDigits().IsMatch(text.AsSpan(2)))
        {
            integer = text.AsSpan(2).ToString().Aggregate(BigInteger.Zero, static (total, digit) => (total * 8) + (digit - '0'));
        }
        else if (text.StartsWith("0x", StringComparison.Ordinal) && HexDigits().IsMatch(text.AsSpan(2)))
        {
            integer = BigInteger.Parse("0" + text[2..], NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);
        }

        if (integer is { } whole)
        {
            if (BigInteger.Abs(whole) > MaxExactInteger)
            {
                problem = $"the whole number {text} is beyond 2^53, which a number cannot hold exactly; quote it to keep it as a string";
                return false;
            }

            value = AttributeValue.FromNumber((double)whole);
            return true;
        }

        if (Infinity().IsMatch(text) || NotANumber().IsMatch(text))
        {
            problem = $"the number {text} is not finite; attribute numbers must be finite";
            return false;
        }

        if (Float().IsMatch(text))
        {
            var number = double.Parse(text, NumberStyles.Float, CultureInfo.InvariantCulture);
            if (!double.IsFinite(number))
            {
                problem = $"the number {text} is too large to be finite; attribute numbers must be finite";
                return false;
            }

            value = AttributeValue.FromNumber(number);
            return true;
        }

        return null;
    }

    private static bool TryString(string text, out AttributeValue value, out string problem)
    {
        try
        {
            value = AttributeValue.FromString(text);
            problem = string.Empty;
            return true;
        }
        catch (ArgumentException)
        {
            value = default;
            problem = "the string is not valid Unicode (it holds a lone surrogate)";
            return false;
        }
    }

    private static bool Fail(string message, out string problem)
    {
        problem = message;
        return false;
    }

    private static string ShortTag(string tag) => tag.StartsWith(CoreTagPrefix, StringComparison.Ordinal) ? "!!" + tag[CoreTagPrefix.Length..] : tag;

    [GeneratedRegex("^[-+]?[0-9]+$")]
    private static partial Regex DecimalInteger();

    [GeneratedRegex("^[0-7]+$")]
    private static partial Regex OctalDigits();

    [GeneratedRegex("^[0-9a-fA-F]+$")]
    private static partial Regex HexDigits();

    [GeneratedRegex(@"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")]
    private static partial Regex Float();

    [GeneratedRegex(@"^[-+]?(\.inf|\.Inf|\.INF)$")]
    private static partial Regex Infinity();

    [GeneratedRegex(@"^(\.nan|\.NaN|\.NAN)$")]
    private static partial Regex NotANumber();
}
