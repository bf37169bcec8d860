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
/// <para>
/// Values never enter the SQL text: each is a parameter, and lists travel as one JSON array parameter read with
/// <c>json_each</c>, so a list of thousands of values costs one parameter. Each leaf is "the chunk's row id is among the
/// rows of <c>chunk_attributes</c> that satisfy it" (equivalent to a correlated <c>EXISTS</c>, but index-driven).
/// </para>
/// <para>
/// The semantics are <see cref="FilterEvaluator"/>'s, value kind by value kind. Each row keeps a value's kind (0 string,
/// 1 number, 2 boolean, 3 label, 4 timestamp as Unix milliseconds; numbers, booleans, labels and timestamps compare by
/// <c>num</c>). A positive leaf needs a row of the constant's kind that satisfies it, so the number 1 never equals label
/// rank 1 or <c>true</c>, and an order on strings or booleans matches nothing. A negated leaf reads "the attribute is
/// present, and no row satisfies the leaf or holds a kind the leaf cannot decide" (another kind than the constant's; any
/// kind for an order on strings or booleans; for <c>in</c>, any kind but the list's single kind), so a missing attribute
/// or a value of another kind (<c>"true"</c> against <c>true</c>, <c>"5"</c> against 5) never makes a negation or a deny
/// rule pass. Each blocking set is its own subquery (the satisfying values through the <c>(name, kind, text)</c> or
/// <c>(name, kind, num)</c> index, the other kinds through a <c>(name, kind)</c> range), so a negation costs what the
/// presence check costs. Reserved attributes are rows of their fixed kinds, so the same rule covers them. An empty list is one
/// marker row of kind <see cref="KindRules.EmptyListKind"/>: it makes the attribute present for <c>has</c> and for the
/// presence half of a negation, and no leaf reads it as a value.
/// </para>
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
            NotFilter not => Negated(not.Operand),
            HasFilter has => $"c.rowid IN {Rows(has.Attribute, null)}",
            _ => Positive(node),
        };

        // "Some value satisfies the leaf": one index-driven subquery per value kind the leaf reads (an in-list of
        // strings and numbers is two), so each seeks the (name, kind, text) or (name, kind, num) index.
        private string Positive(FilterNode leaf)
        {
            var attribute = Filters.AttributeOf(leaf);
            var parts = Predicates(leaf).Select(predicate => $"c.rowid IN {Rows(attribute, predicate)}").ToList();
            return parts.Count switch
            {
                0 => "0",
                1 => parts[0],
                _ => "(" + string.Join(" OR ", parts) + ")",
            };
        }

        // "Present, and no value satisfies the leaf or has a kind the leaf cannot decide": a value of another kind makes
        // the leaf unknown, so its negation must not pass (the empty-list marker, kind -1, is neither). Each blocking
        // set is its own index-driven subquery: the satisfying values by (name, kind, value), the other kinds by a
        // (name, kind) range.
        private string Negated(FilterNode leaf)
        {
            var attribute = Filters.AttributeOf(leaf);
            var conditions = new List<string> { $"c.rowid IN {Rows(attribute, null)}" };
            var kinds = KindRules.Undecided(leaf);
            if (kinds is (true, null))
            {
                // Every kind is undecidable: any value blocks the negation (a satisfying one has a kind too).
                conditions.Add($"c.rowid NOT IN {Rows(attribute, "a.kind >= 0")}");
            }
            else
            {
                conditions.AddRange(Predicates(leaf).Select(predicate => $"c.rowid NOT IN {Rows(attribute, predicate)}"));
                if (kinds is (true, { } decidable))
                {
                    var k = (int)decidable;
                    conditions.Add($"c.rowid NOT IN {Rows(attribute, $"(a.kind > {k} OR (a.kind >= 0 AND a.kind < {k}))")}");
                }
            }

            return conditions.Count == 1 ? conditions[0] : "(" + string.Join(" AND ", conditions) + ")";
        }

        // The chunks holding a value of the attribute that satisfies the predicate, as an uncorrelated subquery: SQLite
        // reads it once through the (name, kind, text) or (name, kind, num) index and probes it per chunk, so the cost
        // follows the matching attribute rows instead of evaluating a correlated EXISTS for every chunk.
        private string Rows(string attribute, string? predicate) =>
            $"(SELECT a.chunk_rowid FROM chunk_attributes a WHERE a.name = {Add(attribute)}{(predicate is null ? string.Empty : " AND " + predicate)})";

        // The conditions on one attribute row for "this value satisfies the leaf", one per value kind (the row's kind
        // equals the constant's); none when no value can satisfy it.
        private List<string> Predicates(FilterNode leaf) => leaf switch
        {
            ComparisonFilter { Operator: ComparisonOperator.Equal, Value.Kind: AttributeKind.String } c => [$"a.kind = 0 AND a.text = {Add(c.Value.Text)}"],
            ComparisonFilter { Operator: ComparisonOperator.Equal } c => [$"a.kind = {(int)c.Value.Kind} AND a.num = {Add(c.Value.Number)}"],
            ComparisonFilter c when !AttributeValue.IsOrdered(c.Value.Kind) => [],
            ComparisonFilter c => [$"a.kind = {(int)c.Value.Kind} AND a.num {Symbol(c.Operator)} {Add(c.Value.Number)}"],
            InFilter @in => In(@in),
            StartsWithFilter { Prefix.Length: 0 } => ["a.kind = 0"],

            // Compared as UTF-8 bytes: text functions stop at an embedded NUL, blobs do not.
            StartsWithFilter s => [$"a.kind = 0 AND substr(CAST(a.text AS BLOB), 1, length(CAST({Add(s.Prefix)} AS BLOB))) = CAST({LastName} AS BLOB)"],
            _ => throw new NotSupportedException($"The SQLite store cannot run {leaf.GetType().Name}."),
        };

        private List<string> In(InFilter filter)
        {
            var parts = new List<string>(2);
            foreach (var group in filter.Values.GroupBy(static value => value.Kind).OrderBy(static group => group.Key))
            {
                if (group.Key == AttributeKind.String)
                {
                    var strings = group.Select(static value => value.Text).Distinct(StringComparer.Ordinal).ToList();
                    parts.Add($"a.kind = 0 AND a.text IN (SELECT value FROM json_each({AddList(JsonSerializer.Serialize(strings), strings.Count)}))");
                }
                else
                {
                    var numbers = group.Select(static value => value.Number).Distinct().ToList();
                    parts.Add($"a.kind = {(int)group.Key} AND a.num IN (SELECT value FROM json_each({AddList(JsonSerializer.Serialize(numbers), numbers.Count)}))");
                }
            }

            return parts;
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
