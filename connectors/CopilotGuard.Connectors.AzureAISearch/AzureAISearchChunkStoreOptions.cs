namespace CopilotGuard.Connectors.AzureAISearch;

/// <summary>Chooses the vector algorithm of a newly created index.</summary>
public enum AzureAISearchVectorAlgorithm
{
    /// <summary>Approximate nearest neighbours (HNSW), for large indexes.</summary>
    Hnsw,

    /// <summary>Exact brute-force search over the filtered documents.</summary>
    ExhaustiveKnn,
}

/// <summary>Configures an <see cref="AzureAISearchChunkStore"/>.</summary>
public sealed record AzureAISearchChunkStoreOptions
{
    /// <summary>Gets the index name. The default is <c>copilotguard-chunks</c>.</summary>
    public string IndexName { get; init; } = "copilotguard-chunks";

    /// <summary>Gets the embedding dimensions of the index's vector field. The default is 384 (MiniLM).</summary>
    public int Dimensions { get; init; } = 384;

    /// <summary>Gets the vector algorithm used when the store creates the index. The default is <see cref="AzureAISearchVectorAlgorithm.Hnsw"/>.</summary>
    public AzureAISearchVectorAlgorithm Algorithm { get; init; } = AzureAISearchVectorAlgorithm.Hnsw;

    /// <summary>Gets whether every vector query asks for an exhaustive (exact) search, even over an HNSW index. The default is <see langword="false"/>.</summary>
    public bool ExhaustiveQueries { get; init; }

    /// <summary>Gets how many documents one upload request carries (the service accepts at most 1,000). The default is 500.</summary>
    public int UploadBatchSize { get; init; } = 500;

    /// <summary>Throws when the options cannot work, listing every problem.</summary>
    /// <exception cref="ArgumentException">The options are invalid.</exception>
    public void Validate()
    {
        var errors = new List<string>();
        if (string.IsNullOrEmpty(IndexName) || IndexName.Length > 128 || !IndexName.All(static c => c is (>= 'a' and <= 'z') or (>= '0' and <= '9') or '-') || IndexName[0] == '-')
        {
            errors.Add($"IndexName '{IndexName}' must be lowercase letters, digits or dashes, start with a letter or digit, at most 128 characters.");
        }

        if (Dimensions is < 2 or > 4096)
        {
            errors.Add($"Dimensions {Dimensions} must be between 2 and 4096.");
        }

        if (UploadBatchSize is < 1 or > 1000)
        {
            errors.Add($"UploadBatchSize {UploadBatchSize} must be between 1 and 1000.");
        }

        if (!Enum.IsDefined(Algorithm))
        {
            errors.Add($"Algorithm '{Algorithm}' is not a known algorithm.");
        }

        if (errors.Count > 0)
        {
            throw new ArgumentException("Invalid Azure AI Search store options: " + string.Join(" ", errors));
        }
    }
}
