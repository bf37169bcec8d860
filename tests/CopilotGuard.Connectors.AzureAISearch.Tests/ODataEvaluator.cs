using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace CopilotGuard.Connectors.AzureAISearch.Tests;

/// <summary>A small evaluator for the subset of Azure AI Search OData that the connector emits, written from the
/// service's documented grammar and semantics, independently of the connector's compiler.</summary>
/// <remarks>
/// Grammar: <c>or</c>/<c>and</c>/<c>not</c>, parentheses, <c>true</c>/<c>false</c>, comparisons
/// (<c>eq ne lt le gt ge</c>) between a field path or range variable and a literal (string with doubled quotes,
/// number, <c>null</c>, boolean), <c>path/any()</c>, <c>path/any(v: expr)</c>, <c>path/all(v: expr)</c> and
/// <c>search.in(v, 'list'[, 'delimiters'])</c>. Semantics as documented: string equality is case-sensitive and
/// exact; <c>null eq null</c> is true and any other comparison with <c>null</c> is false (so <c>ne</c> is its
/// negation); an absent field reads as <c>null</c>; <c>any()</c> is false on an empty or absent collection.
/// Anything else is a syntax error, so an unexpected construct fails the test rather than passing silently.
/// </remarks>
public static class ODataEvaluator
{
    public static bool Evaluate(string filter, JsonObject document)
    {
        var parser = new Parser(filter);
        var expression = parser.ParseExpression();
        parser.ExpectEnd();
        return expression(new Scope(document, null));
    }

    private sealed record Scope(JsonObject Document, Dictionary<string, JsonNode?>? Variables)
    {
        public JsonNode? Resolve(IReadOnlyList<string> path)
        {
            JsonNode? node;
            var start = 0;
            if (Variables is not null && Variables.TryGetValue(path[0], out var bound))
            {
                node = bound;
                start = 1;
            }
            else
            {
                node = Document;
            }

            for (var i = start; i < path.Count; i++)
            {
                node = node is JsonObject obj && obj.TryGetPropertyValue(path[i], out var child) ? child : null;
            }

            return node;
        }

        public Scope Bind(string name, JsonNode? value)
        {
            var variables = Variables is null ? new Dictionary<string, JsonNode?>(StringComparer.Ordinal) : new Dictionary<string, JsonNode?>(Variables, StringComparer.Ordinal);
            variables[name] = value;
            return this with { Variables = variables };
        }
    }

    private sealed class Parser(string text)
    {
        private int _position;

        public Func<Scope, bool> ParseExpression()
        {
            var left = ParseAnd();
            while (TryKeyword("or"))
            {
                var l = left;
                var r = ParseAnd();
                left = scope => l(scope) || r(scope);
            }

            return left;
        }

        public void ExpectEnd()
        {
            SkipSpaces();
            if (_position != text.Length)
            {
                throw Error("end of filter");
            }
        }

        private Func<Scope, bool> ParseAnd()
        {
            var left = ParseUnary();
            while (TryKeyword("and"))
            {
                var l = left;
                var r = ParseUnary();
                left = scope => l(scope) && r(scope);
            }

            return left;
        }

        private Func<Scope, bool> ParseUnary()
        {
            if (TryKeyword("not"))
            {
                // OData's not binds tighter than comparisons: "not x eq 1" is not a boolean negation, so it is refused.
                var operand = ParsePrimary(allowComparison: false);
                return scope => !operand(scope);
            }

            return ParsePrimary(allowComparison: true);
        }

        private Func<Scope, bool> ParsePrimary(bool allowComparison)
        {
            SkipSpaces();
            if (TryChar('('))
            {
                var inner = ParseExpression();
                Expect(')');
                return inner;
            }

            if (TryKeyword("true"))
            {
                return static _ => true;
            }

            if (TryKeyword("false"))
            {
                return static _ => false;
            }

            if (TryWord("search.in"))
            {
                Expect('(');
                var variable = ParsePath();
                Expect(',');
                var list = ParseString();
                var delimiters = TryChar(',') ? ParseString() : " ,";
                Expect(')');
                var values = list.Split(delimiters.ToCharArray());
                return scope => scope.Resolve(variable) is JsonValue value && value.TryGetValue<string>(out var s) && values.Contains(s, StringComparer.Ordinal);
            }

            var path = ParsePath();
            if (TryChar('/'))
            {
                var quantifier = ReadIdentifier();
                if (quantifier is not ("any" or "all"))
                {
                    throw Error("any or all");
                }

                Expect('(');
                if (TryChar(')'))
                {
                    if (quantifier != "any")
                    {
                        throw Error("a lambda for all");
                    }

                    return scope => scope.Resolve(path) is JsonArray { Count: > 0 };
                }

                var variable = ReadIdentifier();
                Expect(':');
                var body = ParseExpression();
                Expect(')');
                return quantifier == "any"
                    ? scope => scope.Resolve(path) is JsonArray items && items.Any(item => body(scope.Bind(variable, item)))
                    : scope => scope.Resolve(path) is not JsonArray items || items.All(item => body(scope.Bind(variable, item)));
            }

            if (!allowComparison)
            {
                throw Error("a parenthesized operand after not");
            }

            SkipSpaces();
            var op = ReadIdentifier();
            var literal = ParseLiteral();
            return op switch
            {
                "eq" => scope => Compare(scope.Resolve(path), literal) == 0,
                "ne" => scope => Compare(scope.Resolve(path), literal) != 0,
                "lt" => scope => Compare(scope.Resolve(path), literal) is < 0 and not Incomparable,
                "le" => scope => Compare(scope.Resolve(path), literal) is <= 0 and not Incomparable,
                "gt" => scope => Compare(scope.Resolve(path), literal) is > 0 and not Incomparable and not NullMismatch,
                "ge" => scope => Compare(scope.Resolve(path), literal) is >= 0 and not Incomparable and not NullMismatch,
                _ => throw Error("a comparison operator"),
            };
        }

        private const int Incomparable = int.MinValue;
        private const int NullMismatch = int.MaxValue;

        /// <summary>Compares a field value with a literal: 0 when equal, the sign of the order when both are
        /// numbers or strings, <see cref="NullMismatch"/> when exactly one side is null (only <c>ne</c> holds).</summary>
        private static int Compare(JsonNode? field, object? literal)
        {
            if (field is null || literal is null)
            {
                return field is null && literal is null ? 0 : NullMismatch;
            }

            var value = (JsonValue)field;
            return literal switch
            {
                double number when value.TryGetValue<double>(out var n) => n.CompareTo(number),
                string text when value.TryGetValue<string>(out var s) => Math.Sign(string.CompareOrdinal(s, text)),
                bool flag when value.TryGetValue<bool>(out var b) => b == flag ? 0 : 1,
                _ => throw new FormatException($"Type mismatch in filter: field {field.ToJsonString()} compared with {literal}."),
            };
        }

        private object? ParseLiteral()
        {
            SkipSpaces();
            if (_position < text.Length && text[_position] == '\'')
            {
                return ParseString();
            }

            if (TryKeyword("null"))
            {
                return null;
            }

            if (TryKeyword("true"))
            {
                return true;
            }

            if (TryKeyword("false"))
            {
                return false;
            }

            var start = _position;
            while (_position < text.Length && (char.IsAsciiDigit(text[_position]) || text[_position] is '-' or '+' or '.' or 'E' or 'e'))
            {
                _position++;
            }

            return double.TryParse(text.AsSpan(start, _position - start), NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
                ? number
                : throw Error("a literal");
        }

        private string ParseString()
        {
            SkipSpaces();
            Expect('\'');
            var builder = new StringBuilder();
            while (true)
            {
                if (_position >= text.Length)
                {
                    throw Error("a closing quote");
                }

                var c = text[_position++];
                if (c == '\'')
                {
                    if (_position < text.Length && text[_position] == '\'')
                    {
                        builder.Append('\'');
                        _position++;
                        continue;
                    }

                    return builder.ToString();
                }

                builder.Append(c);
            }
        }

        private List<string> ParsePath()
        {
            var path = new List<string> { ReadIdentifier() };
            while (_position + 1 < text.Length && text[_position] == '/' && char.IsAsciiLetter(text[_position + 1]) && !LooksLikeQuantifier())
            {
                _position++;
                path.Add(ReadIdentifier());
            }

            return path;
        }

        private bool LooksLikeQuantifier() =>
            string.CompareOrdinal(text, _position + 1, "any(", 0, 4) == 0 || string.CompareOrdinal(text, _position + 1, "all(", 0, 4) == 0;

        private string ReadIdentifier()
        {
            SkipSpaces();
            var start = _position;
            while (_position < text.Length && (char.IsAsciiLetterOrDigit(text[_position]) || text[_position] == '_'))
            {
                _position++;
            }

            return _position > start ? text[start.._position] : throw Error("an identifier");
        }

        private bool TryKeyword(string keyword)
        {
            SkipSpaces();
            var end = _position + keyword.Length;
            if (end <= text.Length && string.CompareOrdinal(text, _position, keyword, 0, keyword.Length) == 0 && (end == text.Length || !char.IsAsciiLetterOrDigit(text[end]) && text[end] is not ('_' or '/' or '.')))
            {
                _position = end;
                return true;
            }

            return false;
        }

        private bool TryWord(string word)
        {
            SkipSpaces();
            if (string.CompareOrdinal(text, _position, word, 0, word.Length) == 0)
            {
                _position += word.Length;
                return true;
            }

            return false;
        }

        private bool TryChar(char c)
        {
            SkipSpaces();
            if (_position < text.Length && text[_position] == c)
            {
                _position++;
                return true;
            }

            return false;
        }

        private void Expect(char c)
        {
            if (!TryChar(c))
            {
                throw Error($"'{c}'");
            }
        }

        private void SkipSpaces()
        {
            while (_position < text.Length && text[_position] == ' ')
            {
                _position++;
            }
        }

        private FormatException Error(string expected) =>
            new($"OData syntax error at {_position}: expected {expected} in {text[..Math.Min(text.Length, 300)]}");
    }
}
