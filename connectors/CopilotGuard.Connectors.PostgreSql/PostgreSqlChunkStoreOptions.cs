using System.Text.RegularExpressions;

namespace CopilotGuard.Connectors.PostgreSql;

/// <summary>Chooses how the PostgreSQL store ranks vectors.</summary>
public enum PostgreSqlVectorSearch
{
    /// <summary>Ranks in SQL when the <c>vector</c> extension is installed in the database, otherwise in process.</summary>
    Auto,

    /// <summary>Ranks in process over the rows that pass the filter (exact cosine similarity).</summary>
    InProcess,

    /// <summary>Ranks in SQL with the <c>vector</c> extension; initialization fails when it is not installed.</summary>
    PgVector,
}

/// <summary>Configures a <see cref="PostgreSqlChunkStore"/>.</summary>
public sealed partial record PostgreSqlChunkStoreOptions
{
    /// <summary>Gets the schema that holds the store's tables. The default is <c>copilotguard</c>.</summary>
    public string Schema { get; init; } = "copilotguard";

    /// <summary>Gets how vectors are ranked. The default is <see cref="PostgreSqlVectorSearch.Auto"/>.</summary>
    public PostgreSqlVectorSearch VectorSearch { get; init; } = PostgreSqlVectorSearch.Auto;

    /// <summary>Throws when the options cannot work, listing every problem.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public void Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrEmpty(Schema) || !SchemaPattern().IsMatch(Schema))
        {
            errors.Add($"Schema '{Schema}' must be a lowercase identifier (letters, digits, underscores; at most 63 characters).");
        }

        if (!Enum.IsDefined(VectorSearch))
        {
            errors.Add($"VectorSearch '{VectorSearch}' is not a known mode.");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid PostgreSQL store options: " + string.Join(" ", errors));
        }
    }

    [GeneratedRegex("^[a-z_][a-z0-9_]{0,62}$", RegexOptions.CultureInvariant)]
    private static partial Regex SchemaPattern();
}
