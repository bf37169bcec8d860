using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.AI;

namespace CopilotGuard.Hosting;

/// <summary>Caches query embeddings in memory, keyed by the SHA-256 of the query text (the text itself is not kept).</summary>
/// <remarks>The runtime puts it in front of the broker's embedder when <c>CopilotGuard:Embeddings:QueryCacheSize</c> is
/// above 0; ingestion never goes through it. Bounded: once <see cref="Capacity"/> entries are held, new texts are
/// embedded but not cached. Calls with generation options bypass the cache, because options can change the vector.
/// Thread-safe.</remarks>
public sealed class CachingQueryEmbeddingGenerator : DelegatingEmbeddingGenerator<string, Embedding<float>>
{
    private readonly ConcurrentDictionary<string, Embedding<float>> _cache = new(StringComparer.Ordinal);
    private long _hits;
    private long _misses;

    /// <summary>Wraps an embedder with a cache of at most <paramref name="capacity"/> query embeddings.</summary>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="capacity"/> is not positive.</exception>
    public CachingQueryEmbeddingGenerator(IEmbeddingGenerator<string, Embedding<float>> inner, int capacity)
        : base(inner)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(capacity);
        Capacity = capacity;
    }

    /// <summary>Gets the most embeddings the cache holds.</summary>
    public int Capacity { get; }

    /// <summary>Gets how many embeddings the cache holds now.</summary>
    public int Count => _cache.Count;

    /// <summary>Gets how many texts were served from the cache.</summary>
    public long Hits => Interlocked.Read(ref _hits);

    /// <summary>Gets how many texts were embedded by the inner generator.</summary>
    public long Misses => Interlocked.Read(ref _misses);

    /// <inheritdoc />
    public override async Task<GeneratedEmbeddings<Embedding<float>>> GenerateAsync(IEnumerable<string> values, EmbeddingGenerationOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(values);
        if (options is not null)
        {
            return await base.GenerateAsync(values, options, cancellationToken).ConfigureAwait(false);
        }

        var texts = values as IReadOnlyList<string> ?? values.ToArray();
        var keys = new string[texts.Count];
        var results = new Embedding<float>[texts.Count];
        List<int>? missing = null;
        for (var i = 0; i < texts.Count; i++)
        {
            keys[i] = Convert.ToBase64String(SHA256.HashData(Encoding.UTF8.GetBytes(texts[i])));
            if (_cache.TryGetValue(keys[i], out var cached))
            {
                results[i] = cached;
                Interlocked.Increment(ref _hits);
            }
            else
            {
                (missing ??= []).Add(i);
            }
        }

        if (missing is not null)
        {
            Interlocked.Add(ref _misses, missing.Count);
            var generated = await base.GenerateAsync([.. missing.Select(i => texts[i])], null, cancellationToken).ConfigureAwait(false);
            if (generated.Count != missing.Count)
            {
                throw new InvalidOperationException($"The embedder returned {generated.Count} embeddings for {missing.Count} texts.");
            }

            for (var j = 0; j < missing.Count; j++)
            {
                results[missing[j]] = generated[j];
                if (_cache.Count < Capacity)
                {
                    _cache.TryAdd(keys[missing[j]], generated[j]);
                }
            }
        }

        return new GeneratedEmbeddings<Embedding<float>>(results);
    }
}
