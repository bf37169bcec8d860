namespace CopilotGuard.Connectors.PostgreSql;

/// <summary>Configures a <see cref="PostgreSqlAuditLog"/>.</summary>
public sealed record PostgreSqlAuditLogOptions
{
    /// <summary>Gets the schema that holds the log's tables (<c>audit_log</c>, <c>audit_checkpoints</c> and the indexes).
    /// The default is <c>copilotguard</c>.</summary>
    public string Schema { get; init; } = "copilotguard";

    /// <summary>Gets the most records committed in one transaction. The default is 512; 1 turns group commit off.</summary>
    public int MaxBatchSize { get; init; } = 512;

    /// <summary>Gets how many entries may follow the last checkpoint before the next is written. The default is 1,000.</summary>
    public int CheckpointEvery { get; init; } = 1000;

    /// <summary>Gets the longest time unanchored entries wait for a checkpoint. The default is 10 seconds.</summary>
    public TimeSpan CheckpointInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>Throws when the options cannot work, listing every problem.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public void Validate()
    {
        var errors = new List<string>();
        if (!PostgreSqlIdentifier.IsValid(Schema))
        {
            errors.Add($"Schema '{Schema}' must be {PostgreSqlIdentifier.Rule}.");
        }

        if (MaxBatchSize < 1)
        {
            errors.Add($"MaxBatchSize {MaxBatchSize} must be at least 1.");
        }

        if (CheckpointEvery < 1)
        {
            errors.Add($"CheckpointEvery {CheckpointEvery} must be at least 1.");
        }

        if (CheckpointInterval <= TimeSpan.Zero)
        {
            errors.Add($"CheckpointInterval {CheckpointInterval} must be positive.");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid PostgreSQL audit log options: " + string.Join(" ", errors));
        }
    }
}
