using System.Text.RegularExpressions;

namespace CopilotGuard.Connectors.PostgreSql;

/// <summary>Checks the identifiers (schema names) that the connector writes into SQL text, the only values not passed as parameters.</summary>
internal static partial class PostgreSqlIdentifier
{
    /// <summary>The rule, as said in error messages.</summary>
    public const string Rule = "a lowercase identifier (letters, digits, underscores; at most 63 characters)";

    /// <summary>Returns whether a name is a plain lowercase identifier that needs no quoting.</summary>
    public static bool IsValid(string? name) => !string.IsNullOrEmpty(name) && Pattern().IsMatch(name);

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex Pattern();
}
