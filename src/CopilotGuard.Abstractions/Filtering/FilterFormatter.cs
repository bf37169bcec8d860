using System.Globalization;
using System.Text;

namespace CopilotGuard.Filtering;

/// <summary>Prints a filter in the policy language, e.g. <c>resource.source == "kb" &amp;&amp; resource.label &lt;= label("General")</c>.</summary>
/// <remarks>The output is canonical (one spelling per filter), so it can be compared as text in policy tests.</remarks>
public static class FilterFormatter
{
    /// <summary>The most list values printed before the rest are summarized.</summary>
    public const int MaxListValues = 50;

    /// <summary>Formats a filter.</summary>
    public static string Format(FilterNode filter)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var builder = new StringBuilder();
        Write(builder, filter, parent: null);
        return builder.ToString();
    }

    private static void Write(StringBuilder builder, FilterNode node, FilterNode? parent)
    {
        switch (node)
        {
            case ConstantFilter constant:
                builder.Append(constant.Value ? "true" : "false");
                break;
            case AndFilter and:
                WriteJoined(builder, and.Operands, " && ", node, parenthesize: parent is not null and not AndFilter);
                break;
            case OrFilter or:
                WriteJoined(builder, or.Operands, " || ", node, parenthesize: parent is not null and not OrFilter);
                break;
            case NotFilter not:
                builder.Append("!(");
                Write(builder, not.Operand, node);
                builder.Append(')');
                break;
            case ComparisonFilter comparison:
                builder.Append("resource.").Append(comparison.Attribute).Append(' ').Append(comparison.Operator switch
                {
                    ComparisonOperator.Equal => "==",
                    ComparisonOperator.LessThan => "<",
                    ComparisonOperator.LessThanOrEqual => "<=",
                    ComparisonOperator.GreaterThan => ">",
                    _ => ">=",
                }).Append(' ');
                WriteValue(builder, comparison.Value);
                break;
            case InFilter @in:
                builder.Append("resource.").Append(@in.Attribute).Append(" in [");
                for (var i = 0; i < Math.Min(@in.Values.Length, MaxListValues); i++)
                {
                    builder.Append(i == 0 ? string.Empty : ", ");
                    WriteValue(builder, @in.Values[i]);
                }

                if (@in.Values.Length > MaxListValues)
                {
                    builder.Append(CultureInfo.InvariantCulture, $", ... {@in.Values.Length - MaxListValues} more");
                }

                builder.Append(']');
                break;
            case HasFilter has:
                builder.Append("has(resource.").Append(has.Attribute).Append(')');
                break;
            case StartsWithFilter startsWith:
                builder.Append("resource.").Append(startsWith.Attribute).Append(".startsWith(");
                WriteString(builder, startsWith.Prefix);
                builder.Append(')');
                break;
            default:
                throw new ArgumentException($"Unknown filter node {node.GetType().Name}.", nameof(node));
        }
    }

    private static void WriteJoined(StringBuilder builder, IReadOnlyList<FilterNode> operands, string separator, FilterNode node, bool parenthesize)
    {
        if (parenthesize)
        {
            builder.Append('(');
        }

        for (var i = 0; i < operands.Count; i++)
        {
            builder.Append(i == 0 ? string.Empty : separator);
            Write(builder, operands[i], node);
        }

        if (parenthesize)
        {
            builder.Append(')');
        }
    }

    private static void WriteValue(StringBuilder builder, AttributeValue value)
    {
        switch (value.Kind)
        {
            case AttributeKind.String:
                WriteString(builder, value.Text);
                break;
            case AttributeKind.Label:
                builder.Append("label(");
                WriteString(builder, value.Text);
                builder.Append(')');
                break;
            case AttributeKind.Timestamp:
                builder.Append("timestamp(");
                WriteString(builder, value.Text);
                builder.Append(')');
                break;
            default:
                builder.Append(value.Text);
                break;
        }
    }

    /// <summary>Quotes a string as a policy-language literal, escaping quotes, backslashes and control characters.</summary>
    public static string Quote(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var builder = new StringBuilder(text.Length + 2);
        WriteString(builder, text);
        return builder.ToString();
    }

    private static void WriteString(StringBuilder builder, string text)
    {
        builder.Append('"');
        foreach (var c in text)
        {
            switch (c)
            {
                case '"' or '\\':
                    builder.Append('\\').Append(c);
                    break;
                case '\n':
                    builder.Append("\\n");
                    break;
                case '\t':
                    builder.Append("\\t");
                    break;
                case < ' ':
                    builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    break;
                default:
                    builder.Append(c);
                    break;
            }
        }

        builder.Append('"');
    }
}
