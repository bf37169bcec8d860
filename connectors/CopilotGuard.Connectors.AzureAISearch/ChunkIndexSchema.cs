using Azure.Search.Documents.Indexes.Models;

namespace CopilotGuard.Connectors.AzureAISearch;

/// <summary>Names and builds the fields of the chunk index, and checks an existing index against them.</summary>
internal static class ChunkIndexSchema
{
    public const string Key = "key";
    public const string Id = "id";
    public const string DocumentId = "documentId";
    public const string Source = "source";
    public const string Label = "label";
    public const string LabelRank = "labelRank";
    public const string Version = "version";
    public const string Title = "title";
    public const string Text = "text";
    public const string Subjects = "subjects";
    public const string Fields = "fields";
    public const string RowSchema = "rowSchema";
    public const string Attributes = "attributes";
    public const string AttributeName = "name";
    public const string AttributeKind = "kind";
    public const string AttributeText = "text";
    public const string AttributeNumber = "number";
    public const string Embedding = "embedding";
    public const string VectorProfile = "copilotguard-vector-profile";
    public const string VectorAlgorithm = "copilotguard-vector-algorithm";

    /// <summary>Gets the fields a keyword or hybrid search selects (everything but the key and the vector).</summary>
    public static IReadOnlyList<string> SelectedWithoutVector { get; } =
        [Id, DocumentId, Source, Label, LabelRank, Version, Title, Text, Subjects, Fields, RowSchema, Attributes];

    /// <summary>Gets the fields a vector search selects (everything but the key).</summary>
    public static IReadOnlyList<string> Selected { get; } = [.. SelectedWithoutVector, Embedding];

    public static SearchIndex Build(string name, AzureAISearchChunkStoreOptions options)
    {
        var index = new SearchIndex(name)
        {
            Fields =
            {
                new SearchField(Key, SearchFieldDataType.String) { IsKey = true, IsFilterable = true },
                Filterable(Id, SearchFieldDataType.String),
                Filterable(DocumentId, SearchFieldDataType.String),
                Filterable(Source, SearchFieldDataType.String),
                Filterable(Label, SearchFieldDataType.String),
                Filterable(LabelRank, SearchFieldDataType.Int32),
                Filterable(Version, SearchFieldDataType.Int32),
                new SearchField(Title, SearchFieldDataType.String) { IsSearchable = true },
                new SearchField(Text, SearchFieldDataType.String) { IsSearchable = true },
                Filterable(Subjects, SearchFieldDataType.Collection(SearchFieldDataType.String)),
                new SearchField(Fields, SearchFieldDataType.String) { IsSearchable = false, IsFilterable = false },
                new SearchField(RowSchema, SearchFieldDataType.String) { IsSearchable = false, IsFilterable = false },
                new SearchField(Attributes, SearchFieldDataType.Collection(SearchFieldDataType.Complex))
                {
                    Fields =
                    {
                        Filterable(AttributeName, SearchFieldDataType.String),
                        Filterable(AttributeKind, SearchFieldDataType.Int32),
                        Filterable(AttributeText, SearchFieldDataType.String),
                        Filterable(AttributeNumber, SearchFieldDataType.Double),
                    },
                },
                new SearchField(Embedding, SearchFieldDataType.Collection(SearchFieldDataType.Single))
                {
                    IsSearchable = true,
                    VectorSearchDimensions = options.Dimensions,
                    VectorSearchProfileName = VectorProfile,
                },
            },
            VectorSearch = new VectorSearch
            {
                Profiles = { new VectorSearchProfile(VectorProfile, VectorAlgorithm) },
                Algorithms =
                {
                    options.Algorithm == AzureAISearchVectorAlgorithm.ExhaustiveKnn
                        ? new ExhaustiveKnnAlgorithmConfiguration(VectorAlgorithm) { Parameters = new ExhaustiveKnnParameters { Metric = VectorSearchAlgorithmMetric.Cosine } }
                        : new HnswAlgorithmConfiguration(VectorAlgorithm) { Parameters = new HnswParameters { Metric = VectorSearchAlgorithmMetric.Cosine } },
                },
            },
        };
        return index;
    }

    /// <summary>Lists every way an existing index differs from what the store needs (empty when it fits).</summary>
    public static List<string> Validate(SearchIndex existing, AzureAISearchChunkStoreOptions options)
    {
        var problems = new List<string>();
        var expected = Build(existing.Name, options);
        Compare(expected.Fields, existing.Fields, string.Empty, problems);
        return problems;
    }

    private static void Compare(IList<SearchField> expected, IList<SearchField> actual, string prefix, List<string> problems)
    {
        foreach (var field in expected)
        {
            var path = prefix + field.Name;
            var found = actual.FirstOrDefault(f => string.Equals(f.Name, field.Name, StringComparison.Ordinal));
            if (found is null)
            {
                problems.Add($"field '{path}' is missing");
                continue;
            }

            if (found.Type != field.Type)
            {
                problems.Add($"field '{path}' is {found.Type}, expected {field.Type}");
            }

            if (field.IsKey == true && found.IsKey != true)
            {
                problems.Add($"field '{path}' must be the key");
            }

            if (field.IsFilterable == true && found.IsFilterable != true)
            {
                problems.Add($"field '{path}' must be filterable");
            }

            if (field.VectorSearchDimensions is { } dimensions && found.VectorSearchDimensions != dimensions)
            {
                problems.Add($"field '{path}' has {found.VectorSearchDimensions} dimensions, expected {dimensions}");
            }

            if (field.Fields.Count > 0)
            {
                Compare(field.Fields, found.Fields, path + "/", problems);
            }
        }
    }

    private static SearchField Filterable(string name, SearchFieldDataType type) => new(name, type) { IsFilterable = true };
}
