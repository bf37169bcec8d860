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
/// an ordinary value. A negated leaf reads "the attribute is present and no value satisfies the leaf", so a
/// missing attribute never grants access.
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
            NotFilter { Operand: var leaf } => $"({Exists(Filters.AttributeOf(leaf), null)} AND NOT {Exists(Filters.AttributeOf(leaf), leaf)})",
            HasFilter has => Exists(has.Attribute, null),
            _ => Exists(Filters.AttributeOf(node), node),
        };

        private string Exists(string attribute, FilterNode? leaf)
        {
            // Names holding U+0000 are refused at upsert, so no stored attribute can carry one.
            if (attribute.Contains('\0', StringComparison.Ordinal))
            {
                return FalseSql;
            }

            var name = Add(NpgsqlDbType.Text, attribute);
            var condition = leaf is null ? string.Empty : " AND " + Predicate(leaf);
            return $"EXISTS (SELECT 1 FROM {attributesTable} a WHERE a.chunk_key = c.chunk_key AND a.name = {name}{condition})";
        }

        private string Predicate(FilterNode leaf) => leaf switch
        {
            ComparisonFilter { Operator: ComparisonOperator.Equal, Value.IsNumeric: false } c => $"a.kind = 0 AND a.value = {Add(NpgsqlDbType.Bytea, Encoding.UTF8.GetBytes(c.Value.Text))}",
            ComparisonFilter { Operator: ComparisonOperator.Equal } c => $"a.kind <> 0 AND a.num = {Add(NpgsqlDbType.Double, c.Value.Number)}",
            ComparisonFilter { Value.IsNumeric: false } => FalseSql,
            ComparisonFilter c => $"a.kind <> 0 AND a.num {Symbol(c.Operator)} {Add(NpgsqlDbType.Double, c.Value.Number)}",
            InFilter @in => In(@in),
            StartsWithFilter { Prefix.Length: 0 } => "a.kind = 0",
            StartsWithFilter s => StartsWith(s.Prefix),
            _ => throw new NotSupportedException($"The PostgreSQL store cannot run {leaf.GetType().Name}."),
        };

        private string StartsWith(string prefix)
        {
            if (PrefixRange(prefix) is not var (lower, upper))
            {
                return FalseSql;
            }

            return $"a.kind = 0 AND a.value >= {Add(NpgsqlDbType.Bytea, lower)} AND a.value < {Add(NpgsqlDbType.Bytea, upper)}";
        }

        private string In(InFilter filter)
        {
            var strings = filter.Values.Where(static value => !value.IsNumeric).Select(static value => Encoding.UTF8.GetBytes(value.Text)).ToArray();
            var numbers = filter.Values.Where(static value => value.IsNumeric).Select(static value => value.Number).Distinct().ToArray();
            var parts = new List<string>(2);
            if (strings.Length > 0)
            {
                parts.Add($"(a.kind = 0 AND a.value = ANY({Add(NpgsqlDbType.Array | NpgsqlDbType.Bytea, strings)}))");
            }

            if (numbers.Length > 0)
            {
                parts.Add($"(a.kind <> 0 AND a.num = ANY({Add(NpgsqlDbType.Array | NpgsqlDbType.Double, numbers)}))");
            }

            return parts.Count switch
            {
                0 => FalseSql,
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
