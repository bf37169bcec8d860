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
public sealed record PostgreSqlChunkStoreOptions
{
    /// <summary>Gets the schema that holds the store's tables. The default is <c>copilotguard</c>.</summary>
    public string Schema { get; init; } = "copilotguard";

    /// <summary>Gets how vectors are ranked. The default is <see cref="PostgreSqlVectorSearch.Auto"/>.</summary>
    public PostgreSqlVectorSearch VectorSearch { get; init; } = PostgreSqlVectorSearch.Auto;

    /// <summary>Gets whether the chunk table is guarded by PostgreSQL row-level security as a second line of defence
    /// behind the pushed-down filter. The default is <see langword="false"/>.</summary>
    /// <remarks>When set, initialization enables and forces row-level security on <c>chunks</c> (as the table owner),
    /// and every search runs in a transaction that first sets the caller
    /// (<see cref="PostgreSqlCaller.SettingName"/>, transaction-local, as a parameter). The deployment ships the policy
    /// that reads that setting (see <c>RowLevelSecurity/contoso.sql</c>); without a policy, or without a caller, no row
    /// is visible. Searches then rank in SQL or over the rows the policy lets through, never from the shared vector
    /// cache, and connect as a role that is neither superuser nor <c>BYPASSRLS</c>.</remarks>
    public bool RowLevelSecurity { get; init; }

    /// <summary>Throws when the options cannot work, listing every problem.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public void Validate()
    {
        var errors = new List<string>();
        if (!PostgreSqlIdentifier.IsValid(Schema))
        {
            errors.Add($"Schema '{Schema}' must be {PostgreSqlIdentifier.Rule}.");
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
}
