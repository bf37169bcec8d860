using CopilotGuard.Hosting;
using Microsoft.Extensions.AI;

namespace CopilotGuard.Server.Tests.Hosting;

public sealed class CachingQueryEmbeddingGeneratorTests
{
    [Fact]
    public async Task GenerateAsync_SameTextTwice_EmbedsItOnce()
    {
        var inner = new CountingEmbedder();
        using var cache = new CachingQueryEmbeddingGenerator(inner, capacity: 10);

        var first = await cache.GenerateAsync(["alpha", "beta"]);
        var second = await cache.GenerateAsync(["beta", "alpha", "gamma"]);

        Assert.Equal(["alpha", "beta", "gamma"], inner.Embedded);
        Assert.Equal(first[0].Vector.ToArray(), second[1].Vector.ToArray());
        Assert.Equal(first[1].Vector.ToArray(), second[0].Vector.ToArray());
        Assert.Equal(CountingEmbedder.Vector("gamma"), second[2].Vector.ToArray());
        Assert.Equal(2, cache.Hits);
        Assert.Equal(3, cache.Misses);
    }

    [Fact]
    public async Task GenerateAsync_Full_EmbedsNewTextsWithoutCachingThem()
    {
        var inner = new CountingEmbedder();
        using var cache = new CachingQueryEmbeddingGenerator(inner, capacity: 1);

        await cache.GenerateAsync(["alpha"]);
        await cache.GenerateAsync(["beta"]);
        await cache.GenerateAsync(["beta"]);
        await cache.GenerateAsync(["alpha"]);

        Assert.Equal(["alpha", "beta", "beta"], inner.Embedded);
        Assert.Equal(1, cache.Count);
    }

    [Fact]
    public async Task GenerateAsync_WithOptions_BypassesTheCache()
    {
        var inner = new CountingEmbedder();
        using var cache = new CachingQueryEmbeddingGenerator(inner, capacity: 10);

        await cache.GenerateAsync(["alpha"], new EmbeddingGenerationOptions { Dimensions = 2 });
        await cache.GenerateAsync(["alpha"], new EmbeddingGenerationOptions { Dimensions = 2 });

        Assert.Equal(["alpha", "alpha"], inner.Embedded);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void Constructor_CapacityNotPositive_Throws() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new CachingQueryEmbeddingGenerator(new CountingEmbedder(), capacity: 0));

    /// <summary>Embeds each text as [length, first char] and remembers every text it embedded.</summary>
    private sealed class CountingEmbedder : IEmbeddingGenerator<string, Embedding<float>>
    {
        public List<string> Embedded { get; } = [];

        public static float[] Vector(string text) => [text.Length, text[0]];

        public Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
        {
            var texts = values.ToList();
            Embedded.AddRange(texts);
            return Task.FromResult(new GeneratedEmbeddings<Embedding<float>>(texts.Select(static t => new Embedding<float>(Vector(t)))));
        }

        public object? GetService(Type serviceType, object? serviceKey = null) => null;

        public void Dispose()
        {
        }
    }
}
