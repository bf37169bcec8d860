using System.Globalization;
using System.Text;
using CopilotGuard.Filtering;
using NpgsqlTypes;

namespace CopilotGuard.Connectors.PostgreSql;

/// <summary>One parameter of a compiled filter.</summary>
/// <param name="Name">The placeholder name, without the <c>@</c>.</param>
/// <param name="Type">The PostgreSQL type the value is sent as.</param>
/// <param name="Value">The value: a string, a double, a byte array, or an array of those.</param>
internal sealed record PostgreSqlParameter(string Name, NpgsqlDbType Type, object Value);

/// <summary>A SQL condition over the <c>chunks c</c> alias with its parameters.</summary>
/// <param name="Sql">The condition text; every value is a parameter.</param>
/// <param name="Parameters">The parameters the condition reads.</param>
internal sealed record PostgreSqlFilter(string Sql, IReadOnlyList<PostgreSqlParameter> Parameters)
{
    /// <summary>Gets whether the condition can never hold, so no query needs to run.</summary>
    public bool IsFalse => Sql == PostgreSqlFilterCompiler.FalseSql;
}

/// <summary>Compiles a residual filter to a parameterized PostgreSQL condition over the attribute table.</summary>
/// <remarks>
/// <para>
/// Values never enter the SQL text: each is a parameter, and a list travels as one array parameter
/// (<c>= ANY(@p)</c>), so a list of thousands of values costs one parameter and one plan.
/// </para>
/// <para>
/// String values are stored and compared as their UTF-8 bytes (<c>bytea</c>): byte equality and byte prefixes are
/// exactly .NET's ordinal equality and ordinal prefix for valid Unicode, no collation is involved, and U+0000 is
/// an ordinary value.
/// </para>
/// <para>
/// The semantics are <see cref="FilterEvaluator"/>'s, value kind by value kind. Each row keeps a value's kind (0 string,
/// 1 number, 2 boolean, 3 label, 4 timestamp as Unix milliseconds; numbers, booleans, labels and timestamps compare by
/// <c>num</c>). A positive leaf is <c>EXISTS</c> a row of the constant's kind that satisfies it, so the number 1 never
/// equals label rank 1 or <c>true</c>, and an order on strings or booleans matches nothing. A negated leaf reads "the
/// attribute is present AND NOT EXISTS a row that satisfies the leaf or holds a kind the leaf cannot decide" (another
/// kind than the constant's; any kind for an order on strings or booleans; for <c>in</c>, any kind but the list's single
/// kind), so a missing attribute or a value of another kind (<c>"true"</c> against <c>true</c>, <c>"5"</c> against 5)
/// never makes a negation or a deny rule pass. Reserved attributes are rows of their fixed kinds, so the same rule
/// covers them. An empty list is one marker row of kind <see cref="KindRules.EmptyListKind"/>: it makes the attribute
/// present for <c>has</c> and for the presence half of a negation, and no leaf reads it as a value.
/// </para>
/// </remarks>
internal static class PostgreSqlFilterCompiler
{
    public const string TrueSql = "TRUE";
    public const string FalseSql = "FALSE";

    public static PostgreSqlFilter Compile(FilterNode filter, string attributesTable)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var state = new State(attributesTable);
        var sql = state.Node(Filters.ToNegationNormalForm(filter));
        return new PostgreSqlFilter(sql, state.Parameters);
    }

    /// <summary>Renders the condition with its parameter values, for audit records and explanations.</summary>
    public static string Describe(PostgreSqlFilter filter)
    {
        if (filter.Parameters.Count == 0)
        {
            return filter.Sql;
        }

        var builder = new StringBuilder(filter.Sql).Append(" -- ");
        for (var i = 0; i < filter.Parameters.Count; i++)
        {
            var parameter = filter.Parameters[i];
            builder.Append(i == 0 ? string.Empty : ", ").Append('@').Append(parameter.Name).Append('=').Append(Format(parameter.Value));
        }

        return builder.ToString();
    }

    private static string Format(object value) => value switch
    {
        byte[] bytes => Quote(Encoding.UTF8.GetString(bytes)),
        byte[][] list when list.Length > 8 => $"[{list.Length} values]",
        byte[][] list => "[" + string.Join(", ", list.Select(static item => Quote(Encoding.UTF8.GetString(item)))) + "]",
        double[] list when list.Length > 8 => $"[{list.Length} values]",
        double[] list => "[" + string.Join(", ", list.Select(static item => item.ToString("R", CultureInfo.InvariantCulture))) + "]",
        string text => Quote(text),
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? string.Empty,
    };

    private static string Quote(string text)
    {
        var builder = new StringBuilder("\"");
        foreach (var c in text)
        {
            _ = c switch
            {
                '"' or '\\' => builder.Append('\\').Append(c),
                < ' ' => builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture)),
                _ => builder.Append(c),
            };
        }

        return builder.Append('"').ToString();
    }

    /// <summary>Returns the half-open byte range <c>[lower, upper)</c> holding exactly the UTF-8 strings that start
    /// with <paramref name="prefix"/> under .NET's ordinal (UTF-16) comparison, or <see langword="null"/> when no valid
    /// string can start with it.</summary>
    /// <remarks>UTF-8 preserves code point order byte by byte, so a prefix is a byte range. A prefix ending in a
    /// high surrogate matches the 1,024 code points that surrogate starts; any other lone surrogate matches nothing.</remarks>
    internal static (byte[] Lower, byte[] Upper)? PrefixRange(string prefix)
    {
        var complete = prefix;
        int? pendingHigh = null;
        if (prefix.Length > 0 && char.IsHighSurrogate(prefix[^1]))
        {
            pendingHigh = prefix[^1];
            complete = prefix[..^1];
        }

        try
        {
            AttributeValue.EnsureValidUnicode(complete);
        }
        catch (ArgumentException)
        {
            return null;
        }

        var head = Encoding.UTF8.GetBytes(complete);
        byte[] lower, last;
        if (pendingHigh is { } high)
        {
            var first = 0x10000 + ((high - 0xD800) * 0x400);
            lower = [.. head, .. Encoding.UTF8.GetBytes(char.ConvertFromUtf32(first))];
            last = [.. head, .. Encoding.UTF8.GetBytes(char.ConvertFromUtf32(first + 0x3FF))];
        }
        else
        {
            lower = head;
            last = head;
        }

        // UTF-8 never holds 0xFF, so incrementing the last byte gives the least byte string above every extension.
        var upper = (byte[])last.Clone();
        upper[^1]++;
        return (lower, upper);
    }

    private sealed class State(string attributesTable)
    {
        public List<PostgreSqlParameter> Parameters { get; } = [];

        public string Node(FilterNode node) => node switch
        {
            ConstantFilter constant => constant.Value ? TrueSql : FalseSql,
            AndFilter and => "(" + string.Join(" AND ", and.Operands.Select(Node)) + ")",
            OrFilter or => "(" + string.Join(" OR ", or.Operands.Select(Node)) + ")",
            NotFilter { Operand: HasFilter has } => $"NOT {Exists(has.Attribute, null)}",
            NotFilter { Operand: var leaf } => Storable(Filters.AttributeOf(leaf)) ? Negated(leaf) : FalseSql,
            HasFilter has => Exists(has.Attribute, null),
            _ => Storable(Filters.AttributeOf(node)) && Predicate(node) is { } predicate ? Exists(Filters.AttributeOf(node), predicate) : FalseSql,
        };

        // Names holding U+0000 are refused at upsert, so no stored attribute can carry one: a leaf over such a name is
        // false in both polarities, decided before any parameter is added.
        private static bool Storable(string attribute) => !attribute.Contains('\0', StringComparison.Ordinal);

        // "Present, and no value satisfies the leaf or has a kind the leaf cannot decide": a value of another kind makes
        // the leaf unknown, so its negation must not pass (the empty-list marker is neither).
        private string Negated(FilterNode leaf)
        {
            var attribute = Filters.AttributeOf(leaf);
            var present = Exists(attribute, null);
            var kinds = KindRules.Undecided(leaf);

            // When every kind is undecidable, any value blocks the negation (a satisfying one has a kind too).
            var positive = kinds is (true, null) ? null : Predicate(leaf);
            var undecided = kinds switch
            {
                (false, _) => null,
                (true, null) => "a.kind >= 0",
                (true, { } decidable) => $"(a.kind <> {(int)decidable} AND a.kind >= 0)",
            };
            var blocking = (positive, undecided) switch
            {
                (null, null) => null,
                (null, { } u) => u,
                ({ } p, null) => p,
                ({ } p, { } u) => $"({u} OR ({p}))",
            };
            return blocking is null ? present : $"({present} AND NOT {Exists(attribute, blocking)})";
        }

        private string Exists(string attribute, string? predicate)
        {
            if (!Storable(attribute))
            {
                return FalseSql;
            }

            var name = Add(NpgsqlDbType.Text, attribute);
            var condition = predicate is null ? string.Empty : " AND " + predicate;
            return $"EXISTS (SELECT 1 FROM {attributesTable} a WHERE a.chunk_key = c.chunk_key AND a.name = {name}{condition})";
        }

        // The condition on one attribute row for "this value satisfies the leaf" (its kind equals the constant's), or
        // null when no value can.
        private string? Predicate(FilterNode leaf) => leaf switch
        {
            ComparisonFilter { Operator: ComparisonOperator.Equal, Value.Kind: AttributeKind.String } c => $"a.kind = 0 AND a.value = {Add(NpgsqlDbType.Bytea, Encoding.UTF8.GetBytes(c.Value.Text))}",
            ComparisonFilter { Operator: ComparisonOperator.Equal } c => $"a.kind = {(int)c.Value.Kind} AND a.num = {Add(NpgsqlDbType.Double, c.Value.Number)}",
            ComparisonFilter c when !AttributeValue.IsOrdered(c.Value.Kind) => null,
            ComparisonFilter c => $"a.kind = {(int)c.Value.Kind} AND a.num {Symbol(c.Operator)} {Add(NpgsqlDbType.Double, c.Value.Number)}",
            InFilter @in => In(@in),
            StartsWithFilter { Prefix.Length: 0 } => "a.kind = 0",
            StartsWithFilter s => StartsWith(s.Prefix),
            _ => throw new NotSupportedException($"The PostgreSQL store cannot run {leaf.GetType().Name}."),
        };

        private string? StartsWith(string prefix)
        {
            if (PrefixRange(prefix) is not var (lower, upper))
            {
                return null;
            }

            return $"a.kind = 0 AND a.value >= {Add(NpgsqlDbType.Bytea, lower)} AND a.value < {Add(NpgsqlDbType.Bytea, upper)}";
        }

        private string? In(InFilter filter)
        {
            var parts = new List<string>(2);
            foreach (var group in filter.Values.GroupBy(static value => value.Kind).OrderBy(static group => group.Key))
            {
                if (group.Key == AttributeKind.String)
                {
                    var strings = group.Select(static value => value.Text).Distinct(StringComparer.Ordinal).Select(static text => Encoding.UTF8.GetBytes(text)).ToArray();
                    parts.Add($"(a.kind = 0 AND a.value = ANY({Add(NpgsqlDbType.Array | NpgsqlDbType.Bytea, strings)}))");
                }
                else
                {
                    var numbers = group.Select(static value => value.Number).Distinct().ToArray();
                    parts.Add($"(a.kind = {(int)group.Key} AND a.num = ANY({Add(NpgsqlDbType.Array | NpgsqlDbType.Double, numbers)}))");
                }
            }

            return parts.Count switch
            {
                0 => null,
                1 => parts[0],
                _ => "(" + string.Join(" OR ", parts) + ")",
            };
        }

        private string Add(NpgsqlDbType type, object value)
        {
            var name = "p" + Parameters.Count.ToString(CultureInfo.InvariantCulture);
            Parameters.Add(new(name, type, value));
            return "@" + name;
        }

        private static string Symbol(ComparisonOperator op) => op switch
        {
            ComparisonOperator.LessThan => "<",
            ComparisonOperator.LessThanOrEqual => "<=",
            ComparisonOperator.GreaterThan => ">",
            ComparisonOperator.GreaterThanOrEqual => ">=",
            _ => throw new ArgumentOutOfRangeException(nameof(op), op, "Not a range operator."),
        };
    }
}
