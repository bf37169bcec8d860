using System.Globalization;
using System.Text;
using Azure.Search.Documents;
using CopilotGuard.Filtering;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Connectors.AzureAISearch;

/// <summary>Compiles a residual filter to an Azure AI Search OData <c>$filter</c> over the index that
/// <see cref="ChunkIndexSchema"/> defines.</summary>
/// <remarks>
/// <para>
/// Every string literal goes through <see cref="Quote"/>, which delegates to <see cref="SearchFilter.Create(FormattableString)"/>
/// (single quotes doubled); numbers go through <see cref="Number"/>. No other code writes a literal.
/// </para>
/// <para>
/// Reserved attributes are top-level fields (<c>id</c>, <c>documentId</c>, <c>source</c> as <c>Edm.String</c>;
/// <c>label</c> as <c>labelRank</c> <c>Edm.Int32</c>; <c>version</c> <c>Edm.Int32</c>; <c>subjects</c>
/// <c>Collection(Edm.String)</c>). Every ingested attribute is an element of the complex collection
/// <c>attributes</c> (<c>name</c>, <c>kind</c>, <c>text</c>, <c>number</c>), read with <c>attributes/any(a: ...)</c>.
/// </para>
/// <para>
/// The semantics are <see cref="FilterEvaluator"/>'s, value kind by value kind. An element keeps its value's kind
/// (0 string, 1 number, 2 boolean, 3 label, 4 timestamp as Unix milliseconds; the non-string kinds compare by
/// <c>number</c>). A positive leaf needs an element of the constant's kind that satisfies it, so the number 1 never
/// equals label rank 1 or <c>true</c>, and an order on strings or booleans is <c>false</c>. A negated leaf on an
/// ingested attribute is written "present and not any element (of that name) satisfies the leaf or holds a kind the
/// leaf cannot decide" (another kind than the constant's; any kind for an order on strings or booleans; for <c>in</c>,
/// any kind but the list's single kind), with an explicit presence guard, so neither a missing attribute nor a value
/// of another kind (<c>"true"</c> against <c>true</c>, <c>"5"</c> against 5) makes a negation or a deny rule pass,
/// whatever OData's <c>null</c> rules are. Reserved fields have fixed kinds (strings; <c>label</c> a label;
/// <c>version</c> a number): a leaf comparing one with a constant of another kind is <c>false</c> and so is its
/// negation (e.g. <c>not(source eq 5)</c> is never true). An empty list is one marker element of kind
/// <see cref="KindRules.EmptyListKind"/> with no value: it makes the attribute present, and no leaf reads it as a value.
/// The negated operand is always parenthesized, because OData's <c>not</c> binds tighter than a comparison. Lists use <c>search.in</c> with a delimiter
/// that occurs in no value of that list, or an <c>or</c> chain when no such delimiter exists or a value is empty.
/// String prefixes cannot be expressed (OData <c>startswith</c> is not supported by the service), so
/// <see cref="StartsWithFilter"/> throws <see cref="NotSupportedException"/> and is left to the broker's post-filter.
/// </para>
/// </remarks>
internal static class ODataFilterCompiler
{
    /// <summary>Gets the operators the compiler pushes down.</summary>
    public const FilterCapabilities Capabilities =
        FilterCapabilities.Equality | FilterCapabilities.Range | FilterCapabilities.In | FilterCapabilities.Has | FilterCapabilities.Not;

    private const string True = "true";
    private const string False = "false";

    // Delimiters tried for search.in, in order; each is a single character that must occur in no value of the list.
    private static readonly char[] Delimiters = ['|', ',', '~', '^', '`', '\u001F', '\u001E', '\u241F'];

    /// <summary>Returns the filter text, or <see langword="null"/> when the filter is always true.</summary>
    /// <exception cref="NotSupportedException">The filter holds a node OData cannot express (a string prefix).</exception>
    public static string? Compile(FilterNode filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var text = Node(Filters.ToNegationNormalForm(filter));
        return text == True ? null : text;
    }

    /// <summary>Quotes a string as an OData literal: the one place a string value enters a filter.</summary>
    public static string Quote(string value) => SearchFilter.Create($"{value}");

    /// <summary>Writes a number as an OData literal (invariant, round-trippable).</summary>
    public static string Number(double value) =>
        double.IsFinite(value)
            ? value.ToString("R", CultureInfo.InvariantCulture)
            : throw new ArgumentOutOfRangeException(nameof(value), "Filter numbers must be finite.");

    private static string Node(FilterNode node) => node switch
    {
        ConstantFilter constant => constant.Value ? True : False,
        AndFilter and => Join(and.Operands.Select(Node), " and ", True, False),
        OrFilter or => Join(or.Operands.Select(Node), " or ", False, True),
        NotFilter { Operand: var leaf } => Negate(leaf),
        _ => Leaf(node),
    };

    private static string Join(IEnumerable<string> parts, string separator, string neutral, string absorbing)
    {
        var kept = new List<string>();
        foreach (var part in parts)
        {
            if (part == absorbing)
            {
                return absorbing;
            }

            if (part != neutral)
            {
                kept.Add(part);
            }
        }

        return kept.Count switch
        {
            0 => neutral,
            1 => kept[0],
            _ => "(" + string.Join(separator, kept) + ")",
        };
    }

    private static string Leaf(FilterNode leaf)
    {
        var attribute = Filters.AttributeOf(leaf);
        return attribute switch
        {
            ResourceAttributeNames.Id => ScalarString(ChunkIndexSchema.Id, leaf),
            ResourceAttributeNames.DocumentId => ScalarString(ChunkIndexSchema.DocumentId, leaf),
            ResourceAttributeNames.Source => ScalarString(ChunkIndexSchema.Source, leaf),
            ResourceAttributeNames.Label => ScalarInteger(ChunkIndexSchema.LabelRank, AttributeKind.Label, leaf),
            ResourceAttributeNames.Version => ScalarInteger(ChunkIndexSchema.Version, AttributeKind.Number, leaf),
            ResourceAttributeNames.Subjects => Subjects(leaf),
            _ => Ingested(attribute, leaf),
        };
    }

    /// <summary>Gets the fixed kind of a reserved attribute's values, or <see langword="null"/> for an ingested one.</summary>
    private static AttributeKind? ReservedKind(string attribute) => attribute switch
    {
        ResourceAttributeNames.Id or ResourceAttributeNames.DocumentId or ResourceAttributeNames.Source or ResourceAttributeNames.Subjects => AttributeKind.String,
        ResourceAttributeNames.Label => AttributeKind.Label,
        ResourceAttributeNames.Version => AttributeKind.Number,
        _ => null,
    };

    private static string Negate(FilterNode leaf)
    {
        var attribute = Filters.AttributeOf(leaf);
        var presence = Presence(attribute);
        if (leaf is HasFilter)
        {
            return presence == True ? False : $"not ({presence})";
        }

        if (ReservedKind(attribute) is { } kind)
        {
            // Every value of a reserved attribute has its fixed kind: when the leaf cannot decide that kind, a present
            // attribute makes the leaf unknown or true, so the negation is never definitely true.
            if (KindRules.Undecided(leaf) is (true, var decidable) && decidable != kind)
            {
                return False;
            }

            return Join([presence, Not(Leaf(leaf))], " and ", True, False);
        }

        return Join([presence, Not(Ingested(attribute, leaf, negated: true))], " and ", True, False);
    }

    private static string Not(string positive) => positive switch
    {
        True => False,
        False => True,
        _ => $"not ({positive})",
    };

    private static string Presence(string attribute) => attribute switch
    {
        ResourceAttributeNames.Id or ResourceAttributeNames.DocumentId or ResourceAttributeNames.Source
            or ResourceAttributeNames.Label or ResourceAttributeNames.Version => True,
        ResourceAttributeNames.Subjects => $"{ChunkIndexSchema.Subjects}/any()",
        _ => $"{ChunkIndexSchema.Attributes}/any(a: a/{ChunkIndexSchema.AttributeName} eq {Quote(attribute)})",
    };

    private static string ScalarString(string field, FilterNode leaf) => leaf switch
    {
        HasFilter => True,
        ComparisonFilter { Operator: ComparisonOperator.Equal, Value.Kind: AttributeKind.String } c => $"{field} eq {Quote(c.Value.Text)}",
        ComparisonFilter => False,
        InFilter @in => StringIn(field, Strings(@in)),
        _ => throw Unsupported(leaf),
    };

    private static string ScalarInteger(string field, AttributeKind kind, FilterNode leaf) => leaf switch
    {
        HasFilter => True,
        ComparisonFilter c when c.Value.Kind != kind => False,
        ComparisonFilter c => IntegerComparison(field, c.Operator, c.Value.Number),
        InFilter @in => Join(@in.Values.Where(v => v.Kind == kind).Select(v => IntegerComparison(field, ComparisonOperator.Equal, v.Number)).Distinct(StringComparer.Ordinal), " or ", False, True),
        _ => throw Unsupported(leaf),
    };

    private static string Subjects(FilterNode leaf) => leaf switch
    {
        HasFilter => $"{ChunkIndexSchema.Subjects}/any()",
        ComparisonFilter { Operator: ComparisonOperator.Equal, Value.Kind: AttributeKind.String } c => $"{ChunkIndexSchema.Subjects}/any(s: s eq {Quote(c.Value.Text)})",
        ComparisonFilter => False,
        InFilter @in => AnySubject(StringIn("s", Strings(@in))),
        _ => throw Unsupported(leaf),
    };

    private static string AnySubject(string predicate) =>
        predicate is True or False ? predicate : $"{ChunkIndexSchema.Subjects}/any(s: {predicate})";

    private static string Ingested(string attribute, FilterNode leaf) => Ingested(attribute, leaf, negated: false);

    /// <summary>Writes "some element of the attribute satisfies the leaf" (its kind equals the constant's); with
    /// <paramref name="negated"/>, "some element satisfies the leaf or holds a kind the leaf cannot decide", whose
    /// negation (under a presence guard) is the leaf's negation. The empty-list marker element is neither.</summary>
    private static string Ingested(string attribute, FilterNode leaf, bool negated)
    {
        var guard = $"a/{ChunkIndexSchema.AttributeName} eq {Quote(attribute)}";
        if (leaf is HasFilter)
        {
            return $"{ChunkIndexSchema.Attributes}/any(a: {guard})";
        }

        var predicate = leaf switch
        {
            ComparisonFilter { Operator: ComparisonOperator.Equal, Value.Kind: AttributeKind.String } c => $"a/{ChunkIndexSchema.AttributeKind} eq 0 and a/{ChunkIndexSchema.AttributeText} eq {Quote(c.Value.Text)}",
            ComparisonFilter c when c.Operator != ComparisonOperator.Equal && !AttributeValue.IsOrdered(c.Value.Kind) => False,
            ComparisonFilter c => $"a/{ChunkIndexSchema.AttributeKind} eq {KindLiteral(c.Value.Kind)} and a/{ChunkIndexSchema.AttributeNumber} {Symbol(c.Operator)} {Number(c.Value.Number)}",
            InFilter @in => IngestedIn(@in),
            _ => throw Unsupported(leaf),
        };
        if (negated)
        {
            var undecided = KindRules.Undecided(leaf) switch
            {
                (false, _) => False,
                (true, null) => $"a/{ChunkIndexSchema.AttributeKind} ge 0",
                (true, { } decidable) => $"a/{ChunkIndexSchema.AttributeKind} ne {KindLiteral(decidable)} and a/{ChunkIndexSchema.AttributeKind} ge 0",
            };
            predicate = (undecided, predicate) switch
            {
                (False, _) => predicate,

                // When every kind is undecidable, any value blocks the negation (a satisfying one has a kind too).
                _ when KindRules.Undecided(leaf) is (true, null) => $"({undecided})",
                (_, False) => $"({undecided})",
                _ => $"(({undecided}) or ({predicate}))",
            };
        }

        return predicate == False ? False : $"{ChunkIndexSchema.Attributes}/any(a: {guard} and {predicate})";
    }

    // A kind is a number like any other literal, so it goes through the same choke point.
    private static string KindLiteral(AttributeKind kind) => Number((int)kind);

    private static string IngestedIn(InFilter filter)
    {
        var parts = new List<string>(2);
        foreach (var group in filter.Values.GroupBy(static v => v.Kind).OrderBy(static group => group.Key))
        {
            var values = group.Key == AttributeKind.String
                ? StringIn($"a/{ChunkIndexSchema.AttributeText}", [.. group.Select(static v => v.Text).Distinct(StringComparer.Ordinal)])
                : Join(
                    group.Select(static v => v.Number).Distinct().Select(static n => $"a/{ChunkIndexSchema.AttributeNumber} eq {Number(n)}"),
                    " or ",
                    False,
                    True);
            parts.Add($"(a/{ChunkIndexSchema.AttributeKind} eq {KindLiteral(group.Key)} and {values})");
        }

        return Join(parts, " or ", False, True);
    }

    private static List<string> Strings(InFilter filter) =>
        [.. filter.Values.Where(static v => v.Kind == AttributeKind.String).Select(static v => v.Text).Distinct(StringComparer.Ordinal)];

    /// <summary>Writes "the string variable equals one of the values": <c>search.in</c> with a delimiter found in no
    /// value, or an <c>or</c> chain of <c>eq</c> when a value is empty or every delimiter occurs in some value.</summary>
    private static string StringIn(string variable, List<string> values)
    {
        if (values.Count == 0)
        {
            return False;
        }

        if (values.Count == 1)
        {
            return $"{variable} eq {Quote(values[0])}";
        }

        var delimiter = values.Exists(static v => v.Length == 0) ? (char?)null : ChooseDelimiter(values);
        if (delimiter is null)
        {
            return "(" + string.Join(" or ", values.Select(v => $"{variable} eq {Quote(v)}")) + ")";
        }

        var list = new StringBuilder();
        foreach (var value in values)
        {
            list.Append(list.Length == 0 ? string.Empty : delimiter.Value).Append(value);
        }

        return $"search.in({variable}, {Quote(list.ToString())}, {Quote(delimiter.Value.ToString())})";
    }

    private static char? ChooseDelimiter(List<string> values)
    {
        foreach (var candidate in Delimiters)
        {
            if (!values.Exists(v => v.Contains(candidate, StringComparison.Ordinal)))
            {
                return candidate;
            }
        }

        return null;
    }

    /// <summary>Compares an <c>Edm.Int32</c> field with any finite number exactly, folding bounds outside the
    /// integer range or between integers (for an integer <c>r</c>: <c>r &lt; x</c> iff <c>r &lt; ceil(x)</c>).</summary>
    private static string IntegerComparison(string field, ComparisonOperator op, double value)
    {
        var (symbol, bound) = op switch
        {
            ComparisonOperator.Equal => ("eq", value),
            ComparisonOperator.LessThan => ("lt", Math.Ceiling(value)),
            ComparisonOperator.LessThanOrEqual => ("le", Math.Floor(value)),
            ComparisonOperator.GreaterThan => ("gt", Math.Floor(value)),
            ComparisonOperator.GreaterThanOrEqual => ("ge", Math.Ceiling(value)),
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
        };
        if (symbol == "eq" && (value != Math.Floor(value) || value < int.MinValue || value > int.MaxValue))
        {
            return False;
        }

        if (bound > int.MaxValue)
        {
            return symbol is "lt" or "le" ? True : False;
        }

        if (bound < int.MinValue)
        {
            return symbol is "gt" or "ge" ? True : False;
        }

        return $"{field} {symbol} {((int)bound).ToString(CultureInfo.InvariantCulture)}";
    }

    private static string Symbol(ComparisonOperator op) => op switch
    {
        ComparisonOperator.Equal => "eq",
        ComparisonOperator.LessThan => "lt",
        ComparisonOperator.LessThanOrEqual => "le",
        ComparisonOperator.GreaterThan => "gt",
        ComparisonOperator.GreaterThanOrEqual => "ge",
        _ => throw new ArgumentOutOfRangeException(nameof(op), op, null),
    };

    private static NotSupportedException Unsupported(FilterNode leaf) =>
        new($"Azure AI Search cannot run {leaf.GetType().Name} in a filter; the broker applies it after the query.");
}
