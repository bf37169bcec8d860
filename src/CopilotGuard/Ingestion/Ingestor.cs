using CopilotGuard.Retrieval;
using Microsoft.Extensions.AI;

namespace CopilotGuard.Ingestion;

/// <summary>Progress of an ingestion: chunks embedded and written so far, out of the total.</summary>
public readonly record struct IngestionProgress(int Done, int Total);

/// <summary>Embeds chunks and writes them to a store in batches.</summary>
public sealed class Ingestor
{
    /// <summary>How many chunks are embedded per call.</summary>
    public const int BatchSize = 32;

    private readonly IChunkStore _store;
    private readonly IEmbeddingGenerator<string, Embedding<float>> _embedder;

    /// <summary>Creates an ingestor over a store and an embedder.</summary>
    public Ingestor(IChunkStore store, IEmbeddingGenerator<string, Embedding<float>> embedder)
    {
        _store = store ?? throw new ArgumentNullException(nameof(store));
        _embedder = embedder ?? throw new ArgumentNullException(nameof(embedder));
    }

    /// <summary>Gets the text that is embedded for a chunk: its title and its text.</summary>
    public static string EmbeddingText(Chunk chunk)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        return chunk.Title is null ? chunk.Text : chunk.Title + "\n" + chunk.Text;
    }

    /// <summary>Embeds and writes the chunks, reporting progress after each batch.</summary>
    public async Task IngestAsync(IReadOnlyList<Chunk> chunks, IProgress<IngestionProgress>? progress, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(chunks);
        await _store.InitializeAsync(cancellationToken).ConfigureAwait(false);
        progress?.Report(new IngestionProgress(0, chunks.Count));
        for (var offset = 0; offset < chunks.Count; offset += BatchSize)
        {
            var batch = chunks.Skip(offset).Take(BatchSize).ToList();
            var embeddings = await _embedder.GenerateAsync(batch.Select(EmbeddingText), cancellationToken: cancellationToken).ConfigureAwait(false);
            if (embeddings.Count != batch.Count)
            {
                throw new InvalidOperationException($"The embedder returned {embeddings.Count} vectors for {batch.Count} texts.");
            }

            await _store.UpsertAsync([.. batch.Select((chunk, i) => new StoredChunk(chunk, embeddings[i].Vector))], cancellationToken).ConfigureAwait(false);
            progress?.Report(new IngestionProgress(offset + batch.Count, chunks.Count));
        }
    }
}
