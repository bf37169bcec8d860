using System.Text;
using System.Text.Json;
using CopilotGuard.Filtering;
using CopilotGuard.Identity;

namespace CopilotGuard.Connectors.PostgreSql;

/// <summary>The caller of a search as a row-level security policy reads it: the principals (the user, and the agent
/// acting for them) and the request attributes, set transaction-locally as the <c>copilotguard.principal</c> setting.</summary>
/// <remarks>The JSON is <c>{"principals":[{"id","kind","attributes":{name:[values]}}], "request":{name:[values]}}</c>:
/// every attribute is an array; strings are strings, numbers and booleans are themselves, and sensitivity labels are
/// their rank, so a policy compares <c>resource.label &lt;= principal.clearance</c> as numbers. A delegated request
/// lists both principals, and a policy must allow the row for each.</remarks>
/// <param name="Principals">The subject and, when an agent acts for them, the actor.</param>
/// <param name="Request">The request attributes (<c>destination</c>, <c>purpose</c>) as the policy engine sees them.</param>
public sealed record PostgreSqlCaller(CallerPrincipals Principals, AttributeSet Request)
{
    /// <summary>The name of the transaction-local setting that carries the caller.</summary>
    public const string SettingName = "copilotguard.principal";

    /// <summary>Serializes the caller for <see cref="SettingName"/>.</summary>
    /// <exception cref="ArgumentException">A string holds U+0000, which PostgreSQL <c>jsonb</c> cannot hold: the search
    /// fails rather than run with attributes the policy would read differently.</exception>
    public string ToJson()
    {
        ArgumentNullException.ThrowIfNull(Principals);
        ArgumentNullException.ThrowIfNull(Request);
        using var buffer = new MemoryStream();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteStartArray("principals");
            foreach (var principal in Principals.Actor is { } actor ? [Principals.Subject, actor] : (Principal[])[Principals.Subject])
            {
                if (principal.Id.Contains('\0', StringComparison.Ordinal))
                {
                    throw new ArgumentException("A principal id holds U+0000, which PostgreSQL jsonb cannot hold; the row-level security policy cannot be given this caller.");
                }

                writer.WriteStartObject();
                writer.WriteString("id", principal.Id);
                writer.WriteString("kind", principal.Kind.ToString().ToLowerInvariant());
                writer.WritePropertyName("attributes");
                Write(writer, principal.Attributes, $"principal '{principal.Id.Replace("\0", "\\u0000", StringComparison.Ordinal)}'");
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WritePropertyName("request");
            Write(writer, Request, "the request");
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static void Write(Utf8JsonWriter writer, AttributeSet attributes, string owner)
    {
        writer.WriteStartObject();
        foreach (var (name, values) in attributes)
        {
            if (name.Contains('\0', StringComparison.Ordinal) || values.Any(static v => v.Kind == AttributeKind.String && v.Text.Contains('\0', StringComparison.Ordinal)))
            {
                throw new ArgumentException($"Attribute '{name.Replace("\0", "\\u0000", StringComparison.Ordinal)}' of {owner} holds U+0000, which PostgreSQL jsonb cannot hold; the row-level security policy cannot be given this caller.");
            }

            writer.WriteStartArray(name);
            foreach (var value in values)
            {
                switch (value.Kind)
                {
                    case AttributeKind.String:
                        writer.WriteStringValue(value.Text);
                        break;
                    case AttributeKind.Boolean:
                        writer.WriteBooleanValue(value.Number != 0);
                        break;
                    default:
                        writer.WriteNumberValue(value.Number);
                        break;
                }
            }

            writer.WriteEndArray();
        }

        writer.WriteEndObject();
    }
}
