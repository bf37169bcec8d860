using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using CopilotGuard.Filtering;
using CopilotGuard.Labels;

namespace CopilotGuard.Policy;

/// <summary>Parses policy conditions such as <c>resource.source == "kb" &amp;&amp; resource.label &lt;= principal.clearance</c>.</summary>
/// <remarks>
/// Grammar: <c>||</c>, <c>&amp;&amp;</c>, <c>!</c>, parentheses; comparisons <c>== != &lt; &lt;= &gt; &gt;=</c>, <c>in</c>,
/// <c>overlaps</c>; <c>has(x.y)</c>, <c>x.y.startsWith("p")</c>, <c>startsWith(x.y, "p")</c>, <c>label("Name")</c>,
/// <c>timestamp("2024-03-01T09:30:00Z")</c>;
/// string, number, boolean and list literals. A string compared with a label attribute is read as a label name and
/// must exist in the taxonomy. Ranges need numbers or labels; two <c>resource.*</c> operands cannot be compared.
/// </remarks>
public sealed class ExpressionParser
{
    /// <summary>The longest condition accepted, in characters.</summary>
    public const int MaxLength = 64 * 1024;

    private readonly LabelTaxonomy _labels;
    private readonly IReadOnlySet<string> _labelAttributes;

    /// <summary>Creates a parser that types label comparisons with the given taxonomy.</summary>
    /// <param name="labels">The label taxonomy.</param>
    /// <param name="labelAttributes">Attribute names (in any scope) whose values are labels; the default is
    /// <c>label</c> and <c>clearance</c>.</param>
    public ExpressionParser(LabelTaxonomy labels, IReadOnlySet<string>? labelAttributes = null)
    {
        _labels = labels ?? throw new ArgumentNullException(nameof(labels));
        _labelAttributes = labelAttributes ?? DefaultLabelAttributes;
    }

    /// <summary>Gets the attribute names read as labels by default.</summary>
    public static IReadOnlySet<string> DefaultLabelAttributes { get; } =
        new HashSet<string>(["label", "clearance"], StringComparer.Ordinal);

    /// <summary>Parses and types one condition.</summary>
    /// <exception cref="PolicySyntaxException">The condition is malformed; the message names the position.</exception>
    public Expression Parse(string text) => Parse(text, residual: false);

    /// <summary>Parses a residual filter as <see cref="Filters"/> print it (an expected residual in a policy test).</summary>
    /// <remarks>Unlike a rule, a residual may order a resource attribute against a string or boolean (a principal's value
    /// of a kind without an order): no value satisfies such a leaf and every value leaves it undecided.</remarks>
    /// <exception cref="PolicySyntaxException">The text is malformed; the message names the position.</exception>
    public Expression ParseResidual(string text) => Parse(text, residual: true);

    private Expression Parse(string text, bool residual)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length > MaxLength)
        {
            throw new PolicySyntaxException($"The condition is {text.Length} characters long; the limit is {MaxLength}.", 0);
        }

        var state = new State(text, _labels, _labelAttributes, residual);
        var expression = state.ParseOr();
        state.Expect(TokenKind.End, "end of condition");
        return expression;
    }

    private enum TokenKind
    {
        End,
        Identifier,
        String,
        Number,
        Operator,
        LeftParen,
        RightParen,
        LeftBracket,
        RightBracket,
        Comma,
        Dot,
    }

    private readonly record struct Token(TokenKind Kind, string Text, int Position);

    private sealed class State
    {
        private const int MaxDepth = 64;
        private readonly string _text;
        private readonly LabelTaxonomy _labels;
        private readonly IReadOnlySet<string> _labelAttributes;
        private readonly bool _residual;
        private int _offset;
        private int _depth;
        private Token _current;

        public State(string text, LabelTaxonomy labels, IReadOnlySet<string> labelAttributes, bool residual)
        {
            _residual = residual;
            _text = text;
            _labels = labels;
            _labelAttributes = labelAttributes;
            _current = Lex();
        }

        public void Expect(TokenKind kind, string what)
        {
            if (_current.Kind != kind)
            {
                throw Error($"expected {what} but found {Describe(_current)}", _current.Position);
            }

            _current = Lex();
        }

        public Expression ParseOr()
        {
            var left = ParseAnd();
            while (IsOperator("||"))
            {
                var position = _current.Position;
                _current = Lex();
                left = new OrExpression(position, left, ParseAnd());
            }

            return left;
        }

        private Expression ParseAnd()
        {
            var left = ParseUnary();
            while (IsOperator("&&"))
            {
                var position = _current.Position;
                _current = Lex();
                left = new AndExpression(position, left, ParseUnary());
            }

            return left;
        }

        private Expression ParseUnary()
        {
            if (IsOperator("!"))
            {
                var position = _current.Position;
                _current = Lex();
                Enter(position);
                var operand = ParseUnary();
                _depth--;
                return new NotExpression(position, operand);
            }

            return ParseComparison();
        }

        private Expression ParseComparison()
        {
            var left = ParsePrimary();
            ExpressionOperator? op = _current switch
            {
                { Kind: TokenKind.Operator, Text: "==" } => ExpressionOperator.Equal,
                { Kind: TokenKind.Operator, Text: "!=" } => ExpressionOperator.NotEqual,
                { Kind: TokenKind.Operator, Text: "<" } => ExpressionOperator.LessThan,
                { Kind: TokenKind.Operator, Text: "<=" } => ExpressionOperator.LessThanOrEqual,
                { Kind: TokenKind.Operator, Text: ">" } => ExpressionOperator.GreaterThan,
                { Kind: TokenKind.Operator, Text: ">=" } => ExpressionOperator.GreaterThanOrEqual,
                { Kind: TokenKind.Identifier, Text: "in" } => ExpressionOperator.In,
                { Kind: TokenKind.Identifier, Text: "overlaps" } => ExpressionOperator.Overlaps,
                _ => null,
            };

            if (op is null)
            {
                return left switch
                {
                    LiteralExpression { IsList: false, Values: [{ Kind: AttributeKind.Boolean }] } => left,
                    AttributeExpression attribute => new ComparisonExpression(
                        attribute.Position,
                        ExpressionOperator.Equal,
                        attribute,
                        new LiteralExpression(attribute.Position, [AttributeValue.FromBoolean(true)], IsList: false)),
                    HasExpression or StartsWithExpression or ComparisonExpression or AndExpression or OrExpression or NotExpression => left,
                    _ => throw Error("a condition must be a comparison, has(...), startsWith(...), true or false", left.Position),
                };
            }

            var position = _current.Position;
            _current = Lex();
            var right = ParsePrimary();
            return Type(new ComparisonExpression(position, op.Value, left, right));
        }

        private Expression Type(ComparisonExpression comparison)
        {
            var (left, right) = (comparison.Left, comparison.Right);
            if (left is not (AttributeExpression or LiteralExpression) || right is not (AttributeExpression or LiteralExpression))
            {
                throw Error("comparison operands must be attributes or literals", comparison.Position);
            }

            if (left is AttributeExpression { Scope: AttributeScope.Resource } && right is AttributeExpression { Scope: AttributeScope.Resource })
            {
                throw Error("two resource attributes cannot be compared with each other; compare a resource attribute with a principal or request attribute or a literal", comparison.Position);
            }

            var isLabel = IsLabelAttribute(left) || IsLabelAttribute(right);
            if (isLabel)
            {
                left = ToLabels(left);
                right = ToLabels(right);
            }

            if (!_residual && comparison.Operator is ExpressionOperator.LessThan or ExpressionOperator.LessThanOrEqual
                or ExpressionOperator.GreaterThan or ExpressionOperator.GreaterThanOrEqual)
            {
                foreach (var (side, other) in (ReadOnlySpan<(Expression, Expression)>)[(left, right), (right, left)])
                {
                    if (side is LiteralExpression literal && literal.Values.FirstOrDefault(static value => !AttributeValue.IsOrdered(value.Kind)) is { Text: not null } unordered)
                    {
                        var shown = unordered.Kind == AttributeKind.String ? $"the string \"{unordered.Text}\"" : $"the {AttributeValue.KindName(unordered.Kind)} {unordered.Text}";
                        var hint = unordered.Kind == AttributeKind.String && AttributeValue.TryParseTimestamp(unordered.Text, out _) ? $"; write timestamp(\"{unordered.Text}\")" : string.Empty;
                        throw Error($"ranges (<, <=, >, >=) compare numbers, labels and timestamps only; {other} cannot be ordered against {shown}{hint}", side.Position);
                    }
                }
            }

            return comparison with { Left = left, Right = right };
        }

        private bool IsLabelAttribute(Expression expression) =>
            expression is AttributeExpression attribute && _labelAttributes.Contains(attribute.Name);

        private Expression ToLabels(Expression expression)
        {
            if (expression is not LiteralExpression literal)
            {
                return expression;
            }

            var values = ImmutableArray.CreateBuilder<AttributeValue>(literal.Values.Length);
            foreach (var value in literal.Values)
            {
                if (value.Kind == AttributeKind.Label)
                {
                    values.Add(value);
                    continue;
                }

                if (value.Kind != AttributeKind.String)
                {
                    throw Error($"'{value.Text}' is compared with a label; write a label name such as \"{_labels.Labels[0].Name}\"", literal.Position);
                }

                values.Add(LabelValue(value.Text, literal.Position));
            }

            return literal with { Values = values.MoveToImmutable() };
        }

        private AttributeValue LabelValue(string name, int position) =>
            _labels.TryGet(name, out var label)
                ? label.ToAttributeValue()
                : throw Error($"unknown sensitivity label \"{name}\"; known labels: {string.Join(", ", _labels.Labels.Select(static l => l.Name))}", position);

        private Expression ParsePrimary()
        {
            var token = _current;
            switch (token.Kind)
            {
                case TokenKind.LeftParen:
                    {
                        _current = Lex();
                        Enter(token.Position);
                        var inner = ParseOr();
                        _depth--;
                        Expect(TokenKind.RightParen, "')'");
                        return inner;
                    }

                case TokenKind.LeftBracket:
                    return ParseList();
                case TokenKind.String:
                    _current = Lex();
                    return new LiteralExpression(token.Position, [AttributeValue.FromString(token.Text)], IsList: false);
                case TokenKind.Number:
                    _current = Lex();
                    return new LiteralExpression(token.Position, [ParseNumber(token)], IsList: false);
                case TokenKind.Identifier:
                    return ParseIdentifier(token);
                default:
                    throw Error($"expected an attribute, a literal or '(' but found {Describe(token)}", token.Position);
            }
        }

        private Expression ParseIdentifier(Token token)
        {
            _current = Lex();
            switch (token.Text)
            {
                case "true":
                    return new LiteralExpression(token.Position, [AttributeValue.FromBoolean(true)], IsList: false);
                case "false":
                    return new LiteralExpression(token.Position, [AttributeValue.FromBoolean(false)], IsList: false);
                case "has":
                    {
                        Expect(TokenKind.LeftParen, "'(' after has");
                        var attribute = ParseAttribute(Expect(TokenKind.Identifier));
                        Expect(TokenKind.RightParen, "')'");
                        return new HasExpression(token.Position, attribute);
                    }

                case "startsWith":
                    {
                        Expect(TokenKind.LeftParen, "'(' after startsWith");
                        var attribute = ParseAttribute(Expect(TokenKind.Identifier));
                        Expect(TokenKind.Comma, "','");
                        var prefix = Expect(TokenKind.String);
                        Expect(TokenKind.RightParen, "')'");
                        return new StartsWithExpression(token.Position, attribute, prefix.Text);
                    }

                case "timestamp":
                    {
                        Expect(TokenKind.LeftParen, "'(' after timestamp");
                        var text = Expect(TokenKind.String);
                        Expect(TokenKind.RightParen, "')'");
                        return AttributeValue.TryParseTimestamp(text.Text, out var timestamp)
                            ? new LiteralExpression(token.Position, [timestamp], IsList: false)
                            : throw Error($"\"{text.Text}\" is not an ISO 8601 timestamp such as \"2024-03-01\" or \"2024-03-01T09:30:00Z\"", text.Position);
                    }

                case "label":
                    {
                        Expect(TokenKind.LeftParen, "'(' after label");
                        var name = Expect(TokenKind.String);
                        Expect(TokenKind.RightParen, "')'");
                        return new LiteralExpression(token.Position, [LabelValue(name.Text, name.Position)], IsList: false);
                    }

                default:
                    {
                        var attribute = ParseAttribute(token);
                        if (_current.Kind == TokenKind.Dot)
                        {
                            _current = Lex();
                            var method = Expect(TokenKind.Identifier);
                            if (method.Text != "startsWith")
                            {
                                throw Error($"unknown method '{method.Text}'; only startsWith is supported", method.Position);
                            }

                            Expect(TokenKind.LeftParen, "'(' after startsWith");
                            var prefix = Expect(TokenKind.String);
                            Expect(TokenKind.RightParen, "')'");
                            return new StartsWithExpression(token.Position, attribute, prefix.Text);
                        }

                        return attribute;
                    }
            }
        }

        private AttributeExpression ParseAttribute(Token scopeToken)
        {
            var scope = scopeToken.Text switch
            {
                "principal" => AttributeScope.Principal,
                "resource" => AttributeScope.Resource,
                "request" => AttributeScope.Request,
                _ => throw Error($"unknown name '{scopeToken.Text}'; attributes start with principal., resource. or request.", scopeToken.Position),
            };

            if (_current.Kind != TokenKind.Dot)
            {
                throw Error($"expected '.' and an attribute name after '{scopeToken.Text}'", _current.Position);
            }

            _current = Lex();
            var name = Expect(TokenKind.Identifier);
            return new AttributeExpression(scopeToken.Position, scope, name.Text);
        }

        private LiteralExpression ParseList()
        {
            var position = _current.Position;
            _current = Lex();
            var values = ImmutableArray.CreateBuilder<AttributeValue>();
            while (_current.Kind != TokenKind.RightBracket)
            {
                if (values.Count > 0)
                {
                    Expect(TokenKind.Comma, "',' or ']'");
                }

                var token = _current;
                _current = Lex();
                values.Add(token switch
                {
                    { Kind: TokenKind.String } => AttributeValue.FromString(token.Text),
                    { Kind: TokenKind.Number } => ParseNumber(token),
                    { Kind: TokenKind.Identifier, Text: "true" } => AttributeValue.FromBoolean(true),
                    { Kind: TokenKind.Identifier, Text: "false" } => AttributeValue.FromBoolean(false),
                    _ => throw Error($"lists hold literals only; found {Describe(token)}", token.Position),
                });
            }

            _current = Lex();
            return new LiteralExpression(position, values.ToImmutable(), IsList: true);
        }

        private Token Expect(TokenKind kind)
        {
            var token = _current;
            Expect(kind, kind.ToString().ToLowerInvariant());
            return token;
        }

        private void Enter(int position)
        {
            if (++_depth > MaxDepth)
            {
                throw Error($"the condition nests deeper than {MaxDepth} levels", position);
            }
        }

        private bool IsOperator(string text) => _current.Kind == TokenKind.Operator && _current.Text == text;

        private static AttributeValue ParseNumber(Token token) =>
            double.TryParse(token.Text, NumberStyles.AllowLeadingSign | NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number) && double.IsFinite(number)
                ? AttributeValue.FromNumber(number)
                : throw Error($"'{token.Text}' is not a number", token.Position);

        private Token Lex()
        {
            while (_offset < _text.Length && char.IsWhiteSpace(_text[_offset]))
            {
                _offset++;
            }

            var start = _offset;
            if (_offset >= _text.Length)
            {
                return new Token(TokenKind.End, string.Empty, start);
            }

            var c = _text[_offset];
            switch (c)
            {
                case '(':
                    _offset++;
                    return new Token(TokenKind.LeftParen, "(", start);
                case ')':
                    _offset++;
                    return new Token(TokenKind.RightParen, ")", start);
                case '[':
                    _offset++;
                    return new Token(TokenKind.LeftBracket, "[", start);
                case ']':
                    _offset++;
                    return new Token(TokenKind.RightBracket, "]", start);
                case ',':
                    _offset++;
                    return new Token(TokenKind.Comma, ",", start);
                case '.':
                    _offset++;
                    return new Token(TokenKind.Dot, ".", start);
                case '"' or '\'':
                    return LexString(c);
            }

            foreach (var op in (ReadOnlySpan<string>)["==", "!=", "<=", ">=", "&&", "||", "<", ">", "!"])
            {
                if (_text.AsSpan(_offset).StartsWith(op, StringComparison.Ordinal))
                {
                    _offset += op.Length;
                    return new Token(TokenKind.Operator, op, start);
                }
            }

            if (char.IsAsciiDigit(c) || (c == '-' && _offset + 1 < _text.Length && char.IsAsciiDigit(_text[_offset + 1])))
            {
                _offset++;
                while (_offset < _text.Length && (char.IsAsciiDigit(_text[_offset]) || _text[_offset] == '.'))
                {
                    _offset++;
                }

                return new Token(TokenKind.Number, _text[start.._offset], start);
            }

            if (char.IsAsciiLetter(c) || c == '_')
            {
                while (_offset < _text.Length && (char.IsAsciiLetterOrDigit(_text[_offset]) || _text[_offset] is '_' or '-'))
                {
                    _offset++;
                }

                return new Token(TokenKind.Identifier, _text[start.._offset], start);
            }

            throw Error($"unexpected character '{c}'", start);
        }

        private Token LexString(char quote)
        {
            var start = _offset++;
            var builder = new StringBuilder();
            while (_offset < _text.Length)
            {
                var c = _text[_offset++];
                if (c == quote)
                {
                    var text = builder.ToString();
                    try
                    {
                        AttributeValue.EnsureValidUnicode(text);
                    }
                    catch (ArgumentException)
                    {
                        throw Error("the string is not valid Unicode (it holds a lone surrogate)", start);
                    }

                    return new Token(TokenKind.String, text, start);
                }

                if (c != '\\')
                {
                    builder.Append(c);
                    continue;
                }

                if (_offset >= _text.Length)
                {
                    break;
                }

                var escaped = _text[_offset++];
                switch (escaped)
                {
                    case '\\' or '"' or '\'':
                        builder.Append(escaped);
                        break;
                    case 'n':
                        builder.Append('\n');
                        break;
                    case 't':
                        builder.Append('\t');
                        break;
                    case 'u' when _offset + 4 <= _text.Length
                        && int.TryParse(_text.AsSpan(_offset, 4), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var code):
                        builder.Append((char)code);
                        _offset += 4;
                        break;
                    default:
                        throw Error($"unknown escape '\\{escaped}' in string", _offset - 2);
                }
            }

            throw Error("unterminated string", start);
        }

        private static string Describe(Token token) => token.Kind switch
        {
            TokenKind.End => "the end of the condition",
            TokenKind.String => $"string \"{token.Text}\"",
            _ => $"'{token.Text}'",
        };

        private static PolicySyntaxException Error(string message, int position) =>
            new($"at column {position + 1}: {message}", position);
    }
}
