using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.AI;

namespace CopilotGuard.Testing;

/// <summary>An embedder that maps each text to a fixed pseudo-random unit vector derived from its SHA-256.</summary>
public sealed class DeterministicEmbedder(int dimensions = 16) : IEmbeddingGenerator<string, Embedding<float>>
{
    /// <summary>Gets how many texts were embedded.</summary>
    public int Calls { get; private set; }

    public static float[] VectorFor(string text, int dimensions = 16)
    {
        var seed = BitConverter.ToInt32(SHA256.HashData(Encoding.UTF8.GetBytes(text)), 0);
        return RandomUnitVector(new Random(seed), dimensions);
    }

    public static float[] RandomUnitVector(Random random, int dimensions)
    {
        var vector = new float[dimensions];
        double norm = 0;
        for (var i = 0; i < dimensions; i++)
        {
            vector[i] = (float)(random.NextDouble() * 2 - 1);
            norm += vector[i] * vector[i];
        }

        var scale = (float)(1 / Math.Sqrt(norm));
        for (var i = 0; i < dimensions; i++)
        {
            vector[i] *= scale;
        }

        return vector;
    }

    public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        var list = values.ToList();
        Calls += list.Count;
        return Task.FromResult(new GeneratedEmbeddings<Embedding<float>>(list.Select(text => new Embedding<float>(VectorFor(text, dimensions)))));
    }

    public object? GetService(Type serviceType, object? serviceKey = null) => null;

    public void Dispose()
    {
    }
}
