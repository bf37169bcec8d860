using CopilotGuard.Filtering;
using CopilotGuard.Policy;

namespace CopilotGuard.Typing;

/// <summary>One type problem of a policy condition.</summary>
/// <param name="Position">The 0-based position in the condition text.</param>
/// <param name="Message">What is wrong, naming the attribute.</param>
public sealed record TypeProblem(int Position, string Message)
{
    /// <inheritdoc />
    public override string ToString() => $"at column {Position + 1}: {Message}";
}

/// <summary>Checks a parsed policy condition against an <see cref="AttributeSchema"/>: every attribute is declared
/// (when the schema is closed), compared only with literals and attributes of its own type, and used only with the
/// operators its type has.</summary>
/// <remarks>A comparison across types is never true at run time (it is undecided, see
/// <see cref="AttributeValue.Compare"/>), so a rule that makes one can never grant and a deny rule that makes one
/// always denies; the checker refuses such rules when the bundle loads instead.</remarks>
public static class PolicyTypeChecker
{
    /// <summary>Attributes that are never available to policies, with the reason.</summary>
    private static readonly Dictionary<(AttributeScope, string), string> NeverReadable = new()
    {
        [(AttributeScope.Resource, "title")] = "resource.title is not an attribute: a document's title is shown to callers but is not readable by policy",
    };

    /// <summary>Returns every type problem of a condition (none when it is well typed).</summary>
    public static IReadOnlyList<TypeProblem> Check(Expression condition, AttributeSchema schema)
    {
        ArgumentNullException.ThrowIfNull(condition);
        ArgumentNullException.ThrowIfNull(schema);
        var problems = new List<TypeProblem>();
        Visit(condition, schema, problems);
        return problems;
    }

    private static void Visit(Expression expression, AttributeSchema schema, List<TypeProblem> problems)
    {
        switch (expression)
        {
            case AndExpression and:
                Visit(and.Left, schema, problems);
                Visit(and.Right, schema, problems);
                break;
            case OrExpression or:
                Visit(or.Left, schema, problems);
                Visit(or.Right, schema, problems);
                break;
            case NotExpression not:
                Visit(not.Operand, schema, problems);
                break;
            case HasExpression has:
                _ = KindOf(has.Attribute, schema, problems);
                break;
            case StartsWithExpression startsWith:
                if (KindOf(startsWith.Attribute, schema, problems) is { } kind && kind != AttributeKind.String)
                {
                    problems.Add(new TypeProblem(startsWith.Position, $"startsWith does not apply to {startsWith.Attribute}, which is {Describe(kind)}; it applies to strings"));
                }

                break;
            case ComparisonExpression comparison:
                CheckComparison(comparison, schema, problems);
                break;
            case AttributeExpression attribute:
                _ = KindOf(attribute, schema, problems);
                break;
        }
    }

    private static void CheckComparison(ComparisonExpression comparison, AttributeSchema schema, List<TypeProblem> problems)
    {
        var (left, right) = (comparison.Left, comparison.Right);
        var leftKind = left is AttributeExpression leftAttribute ? KindOf(leftAttribute, schema, problems) : null;
        var rightKind = right is AttributeExpression rightAttribute ? KindOf(rightAttribute, schema, problems) : null;
        var op = Symbol(comparison.Operator);
        if (comparison.Operator is ExpressionOperator.LessThan or ExpressionOperator.LessThanOrEqual or ExpressionOperator.GreaterThan or ExpressionOperator.GreaterThanOrEqual)
        {
            foreach (var (side, kind) in (ReadOnlySpan<(Expression, AttributeKind?)>)[(left, leftKind), (right, rightKind)])
            {
                if (side is AttributeExpression attribute && kind is { } k && !AttributeValue.IsOrdered(k))
                {
                    problems.Add(new TypeProblem(comparison.Position, $"'{op}' does not apply to {attribute}, which is {Describe(k)}; ranges compare numbers, labels and timestamps"));
                    return;
                }
            }
        }

        switch (left, right)
        {
            case (AttributeExpression a, AttributeExpression b) when leftKind is { } ka && rightKind is { } kb && ka != kb:
                problems.Add(new TypeProblem(comparison.Position, $"{a} is {Describe(ka)} but {b} is {Describe(kb)}; attributes of different types never compare"));
                break;
            case (AttributeExpression a, LiteralExpression literal) when leftKind is { } ka:
                CheckLiteral(a, ka, literal, op, problems);
                break;
            case (LiteralExpression literal, AttributeExpression b) when rightKind is { } kb:
                CheckLiteral(b, kb, literal, op, problems);
                break;
            case (LiteralExpression a, LiteralExpression b):
                foreach (var value in b.Values)
                {
                    if (a.Values.Length > 0 && value.Kind != a.Values[0].Kind)
                    {
                        problems.Add(new TypeProblem(comparison.Position, $"{Describe(a.Values[0])} is compared with {Describe(value)}; values of different types never compare"));
                        break;
                    }
                }

                break;
        }
    }

    private static void CheckLiteral(AttributeExpression attribute, AttributeKind kind, LiteralExpression literal, string op, List<TypeProblem> problems)
    {
        foreach (var value in literal.Values)
        {
            if (value.Kind == kind)
            {
                continue;
            }

            var hint = kind switch
            {
                AttributeKind.Label when value.Kind == AttributeKind.String => $"; write label(\"{value.Text}\")",
                AttributeKind.Timestamp when value.Kind == AttributeKind.String => $"; write timestamp(\"{value.Text}\")",
                AttributeKind.Boolean when value.Kind == AttributeKind.String && value.Text is "true" or "false" => $"; write {value.Text} without quotes",
                AttributeKind.Number when value.Kind == AttributeKind.String && double.TryParse(value.Text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out _) => $"; write {value.Text} without quotes",
                _ => string.Empty,
            };
            problems.Add(new TypeProblem(literal.Position, $"{attribute} is {Describe(kind)} but is compared ('{op}') with {Describe(value)}{(literal.IsList ? " in the list" : string.Empty)}{hint}"));
        }
    }

    private static AttributeKind? KindOf(AttributeExpression attribute, AttributeSchema schema, List<TypeProblem> problems)
    {
        if (NeverReadable.TryGetValue((attribute.Scope, attribute.Name), out var reason))
        {
            problems.Add(new TypeProblem(attribute.Position, reason));
            return null;
        }

        if (schema.TryGet(attribute.Scope, attribute.Name, out var declaration))
        {
            return declaration.Kind;
        }

        if (schema.IsClosed)
        {
            var suggestion = Closest(attribute.Name, schema[attribute.Scope].Keys);
            problems.Add(new TypeProblem(attribute.Position,
                $"{attribute} is not declared in {AttributeSchemaFile.FileName}, the directory, a source or the built-in attributes{(suggestion is null ? string.Empty : $"; did you mean {AttributeSchema.ScopeName(attribute.Scope)}.{suggestion}?")}"));
        }

        return null;
    }

    private static string? Closest(string name, IEnumerable<string> candidates) =>
        candidates
            .Select(candidate => (Candidate: candidate, Distance: Distance(name, candidate)))
            .Where(static pair => pair.Distance <= 2)
            .OrderBy(static pair => pair.Distance)
            .ThenBy(static pair => pair.Candidate, StringComparer.Ordinal)
            .Select(static pair => pair.Candidate)
            .FirstOrDefault();

    private static int Distance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    private static string Describe(AttributeKind kind) => $"a {AttributeValue.KindName(kind)}";

    private static string Describe(AttributeValue value) => value.Kind switch
    {
        AttributeKind.String => $"the string \"{value.Text}\"",
        AttributeKind.Label => $"the label {value.Text}",
        _ => $"the {AttributeValue.KindName(value.Kind)} {value.Text}",
    };

    private static string Symbol(ExpressionOperator op) => op switch
    {
        ExpressionOperator.Equal => "==",
        ExpressionOperator.NotEqual => "!=",
        ExpressionOperator.LessThan => "<",
        ExpressionOperator.LessThanOrEqual => "<=",
        ExpressionOperator.GreaterThan => ">",
        ExpressionOperator.GreaterThanOrEqual => ">=",
        ExpressionOperator.In => "in",
        ExpressionOperator.Overlaps => "overlaps",
        _ => op.ToString(),
    };
}
