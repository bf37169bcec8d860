using System.Globalization;
using System.Text;
using System.Text.Json;
using CopilotGuard.Filtering;

namespace CopilotGuard.Connectors.Sqlite;

/// <summary>A SQL condition over the <c>chunks c</c> alias with its parameters.</summary>
/// <param name="Sql">The condition text; every value is a parameter.</param>
/// <param name="Parameters">Parameter names and values.</param>
/// <param name="ListSizes">How many values each list parameter (a JSON array) holds, by parameter name.</param>
internal sealed record SqliteFilter(string Sql, IReadOnlyList<KeyValuePair<string, object>> Parameters, IReadOnlyDictionary<string, int> ListSizes);

/// <summary>Compiles a residual filter to a parameterized SQLite condition over the attribute table.</summary>
/// <remarks>
/// Values never enter the SQL text: each is a parameter, and lists travel as one JSON array parameter read with
/// <c>json_each</c>, so a list of thousands of values costs one parameter. Each leaf is "the chunk's row id is among the
/// rows of <c>chunk_attributes</c> that satisfy it" (equivalent to a correlated <c>EXISTS</c>, but index-driven). A
/// negated leaf reads "the attribute is present and no value satisfies the leaf", which keeps a missing attribute from
/// ever granting access.
/// </remarks>
internal static class SqliteFilterCompiler
{
    public static SqliteFilter Compile(FilterNode filter)
    {
        var state = new State();
        var sql = state.Node(Filters.ToNegationNormalForm(filter));
        return new SqliteFilter(sql, state.Parameters, state.ListSizes);
    }

    /// <summary>Renders the condition with its parameter values, for audit records and explanations.</summary>
    public static string Describe(SqliteFilter filter)
    {
        if (filter.Parameters.Count == 0)
        {
            return filter.Sql;
        }

        var builder = new StringBuilder(filter.Sql).Append(" -- ");
        for (var i = 0; i < filter.Parameters.Count; i++)
        {
            var (name, value) = filter.Parameters[i];
            // Long lists are summarized by the count kept at compilation (never by parsing a value, which may be any text).
            var text = value switch
            {
                string when filter.ListSizes.TryGetValue(name, out var count) && count > MaxListValuesShown => $"[{count} values]",
                string s => s,
                IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
                _ => value.ToString(),
            };
            builder.Append(i == 0 ? string.Empty : ", ").Append(name).Append('=').Append(text);
        }

        return builder.ToString();
    }

    /// <summary>The most list values an audit record or explanation shows before summarizing the list by its count.</summary>
    private const int MaxListValuesShown = 20;

    private sealed class State
    {
        public List<KeyValuePair<string, object>> Parameters { get; } = [];

        public Dictionary<string, int> ListSizes { get; } = new(StringComparer.Ordinal);

        public string Node(FilterNode node) => node switch
        {
            ConstantFilter constant => constant.Value ? "1" : "0",
            AndFilter and => "(" + string.Join(" AND ", and.Operands.Select(Node)) + ")",
            OrFilter or => "(" + string.Join(" OR ", or.Operands.Select(Node)) + ")",
            NotFilter { Operand: HasFilter has } => $"c.rowid NOT IN {Rows(has.Attribute, null)}",
            NotFilter not => $"(c.rowid IN {Rows(Filters.AttributeOf(not.Operand), null)} AND c.rowid NOT IN {Rows(Filters.AttributeOf(not.Operand), Predicate(not.Operand))})",
            HasFilter has => $"c.rowid IN {Rows(has.Attribute, null)}",
            _ => $"c.rowid IN {Rows(Filters.AttributeOf(node), Predicate(node))}",
        };

        // The chunks holding a value of the attribute that satisfies the predicate, as an uncorrelated subquery: SQLite
        // reads it once through the (name, text) or (name, num) index and probes it per chunk, so the cost follows the
        // matching attribute rows instead of evaluating a correlated EXISTS for every chunk.
        private string Rows(string attribute, string? predicate) =>
            $"(SELECT a.chunk_rowid FROM chunk_attributes a WHERE a.name = {Add(attribute)}{(predicate is null ? string.Empty : " AND " + predicate)})";

        private string Predicate(FilterNode leaf) => leaf switch
        {
            ComparisonFilter { Operator: ComparisonOperator.Equal, Value.IsNumeric: false } c => $"a.kind = 0 AND a.text = {Add(c.Value.Text)}",
            ComparisonFilter { Operator: ComparisonOperator.Equal } c => $"a.num = {Add(c.Value.Number)}",
            ComparisonFilter { Value.IsNumeric: false } => "0",
            ComparisonFilter c => $"a.num {Symbol(c.Operator)} {Add(c.Value.Number)}",
            InFilter @in => In(@in),
            StartsWithFilter { Prefix.Length: 0 } => "a.kind = 0",

            // Compared as UTF-8 bytes: text functions stop at an embedded NUL, blobs do not.
            StartsWithFilter s => $"a.kind = 0 AND substr(CAST(a.text AS BLOB), 1, length(CAST({Add(s.Prefix)} AS BLOB))) = CAST({LastName} AS BLOB)",
            _ => throw new NotSupportedException($"The SQLite store cannot run {leaf.GetType().Name}."),
        };

        private string In(InFilter filter)
        {
            var strings = filter.Values.Where(static value => !value.IsNumeric).Select(static value => value.Text).ToList();
            var numbers = filter.Values.Where(static value => value.IsNumeric).Select(static value => value.Number).ToList();
            var parts = new List<string>(2);
            if (strings.Count > 0)
            {
                parts.Add($"(a.kind = 0 AND a.text IN (SELECT value FROM json_each({AddList(JsonSerializer.Serialize(strings), strings.Count)})))");
            }

            if (numbers.Count > 0)
            {
                parts.Add($"a.num IN (SELECT value FROM json_each({AddList(JsonSerializer.Serialize(numbers), numbers.Count)}))");
            }

            return parts.Count == 0 ? "0" : "(" + string.Join(" OR ", parts) + ")";
        }

        private string LastName => Parameters[^1].Key;

        private string AddList(string json, int count)
        {
            var name = Add(json);
            ListSizes[name] = count;
            return name;
        }

        private string Add(object value)
        {
            var name = "$p" + Parameters.Count.ToString(CultureInfo.InvariantCulture);
            Parameters.Add(new(name, value));
            return name;
        }

        private static string Symbol(ComparisonOperator op) => op switch
        {
            ComparisonOperator.LessThan => "<",
            ComparisonOperator.LessThanOrEqual => "<=",
            ComparisonOperator.GreaterThan => ">",
            ComparisonOperator.GreaterThanOrEqual => ">=",
            _ => "=",
        };
    }
}
