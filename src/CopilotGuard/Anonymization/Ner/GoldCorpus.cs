using System.Text;

namespace CopilotGuard.Anonymization.Ner;

/// <summary>One gold-annotated text: its id, the document it belongs to, the text and the entity spans.</summary>
/// <param name="Id">The text's id (a sentence id, or a generated one).</param>
/// <param name="DocumentId">The id of the document the text comes from (the unit of the train/test split).</param>
/// <param name="Text">The text.</param>
/// <param name="Spans">The gold entities, with UTF-16 offsets into <paramref name="Text"/>, ordered by start.</param>
public sealed record GoldText(string Id, string DocumentId, string Text, IReadOnlyList<EntitySpan> Spans);

/// <summary>The deterministic document split of a gold corpus.</summary>
public enum CorpusSplit
{
    /// <summary>Every text.</summary>
    All,

    /// <summary>Documents in hash buckets 0-6 (about 70%): the only part a model may learn from.</summary>
    Train,

    /// <summary>Documents in hash buckets 7-9 (about 30%): untouched, for the reported numbers only.</summary>
    Test,

    /// <summary>Train documents in buckets 0-5: for fitting a model whose settings are checked on <see cref="Dev"/>.</summary>
    DevTrain,

    /// <summary>Train documents in bucket 6: held out of <see cref="DevTrain"/> to choose settings without touching the test split.</summary>
    Dev,
}

/// <summary>Reads IOB2 files with <c># text =</c> lines (Universal NER / CoNLL-U style) into texts with character spans.</summary>
public static class IobCorpus
{
    /// <summary>Reads a file and keeps the texts of the requested split.</summary>
    /// <param name="path">The IOB2 file.</param>
    /// <param name="split">Which documents to keep.</param>
    /// <returns>The texts, in file order.</returns>
    public static IReadOnlyList<GoldText> Read(string path, CorpusSplit split = CorpusSplit.All)
    {
        ArgumentNullException.ThrowIfNull(path);
        var result = new List<GoldText>();
        string doc = "doc-0";
        string? sentId = null;
        string? text = null;
        var tokens = new List<(string Word, string Tag)>();
        foreach (string raw in File.ReadLines(path, Encoding.UTF8))
        {
            string line = raw.TrimEnd('\r');
            if (line.Length == 0)
            {
                Flush();
                continue;
            }

            if (line.StartsWith("# newdoc id = ", StringComparison.Ordinal))
            {
                doc = line["# newdoc id = ".Length..].Trim();
            }
            else if (line.StartsWith("# sent_id = ", StringComparison.Ordinal))
            {
                sentId = line["# sent_id = ".Length..].Trim();
            }
            else if (line.StartsWith("# text = ", StringComparison.Ordinal))
            {
                text = line["# text = ".Length..];
            }
            else if (line[0] != '#')
            {
                string[] cols = line.Split('\t');
                if (cols.Length >= 3)
                {
                    tokens.Add((cols[1], cols[2]));
                }
            }
        }

        Flush();
        return result;

        void Flush()
        {
            if (tokens.Count > 0)
            {
                GoldText gold = Align(sentId ?? $"{doc}-{result.Count}", doc, text, tokens);
                if (InSplit(doc, split))
                {
                    result.Add(gold);
                }
            }

            tokens.Clear();
            text = null;
            sentId = null;
        }
    }

    /// <summary>Returns whether a document id falls in a split (FNV-1a hash of the id, mod 10).</summary>
    /// <param name="documentId">The document id.</param>
    /// <param name="split">The split.</param>
    /// <returns><see langword="true"/> when the document belongs to the split.</returns>
    public static bool InSplit(string documentId, CorpusSplit split)
    {
        int bucket = Bucket(documentId);
        return split switch
        {
            CorpusSplit.Train => bucket <= 6,
            CorpusSplit.Test => bucket >= 7,
            CorpusSplit.DevTrain => bucket <= 5,
            CorpusSplit.Dev => bucket == 6,
            _ => true,
        };
    }

    /// <summary>Returns a document's bucket, 0 to 9: the FNV-1a hash of its id, mod 10 (0-6 train, 7-9 test).</summary>
    /// <param name="documentId">The document id.</param>
    /// <returns>The bucket.</returns>
    public static int Bucket(string documentId)
    {
        ArgumentNullException.ThrowIfNull(documentId);
        uint h = 2166136261;
        foreach (char c in documentId)
        {
            h = (h ^ c) * 16777619;
        }

        return (int)(h % 10);
    }

    /// <summary>Finds each token in the sentence text (in order) and turns BIO tags into character spans.</summary>
    private static GoldText Align(string id, string doc, string? text, List<(string Word, string Tag)> tokens)
    {
        text ??= string.Join(' ', tokens.Select(static t => t.Word));
        var starts = new int[tokens.Count];
        var ends = new int[tokens.Count];
        int at = 0;
        for (int k = 0; k < tokens.Count; k++)
        {
            int found = text.IndexOf(tokens[k].Word, at, StringComparison.Ordinal);
            if (found < 0)
            {
                // A token the text spells differently: place it where the previous one ended.
                starts[k] = at;
                ends[k] = at;
                continue;
            }

            starts[k] = found;
            ends[k] = found + tokens[k].Word.Length;
            at = ends[k];
        }

        var spans = new List<EntitySpan>();
        int open = -1;
        string? openType = null;
        for (int k = 0; k <= tokens.Count; k++)
        {
            string tag = k < tokens.Count ? tokens[k].Tag : "O";
            string? type = tag.Length > 2 ? MapType(tag[2..]) : null;
            bool continues = tag.StartsWith("I-", StringComparison.Ordinal) && openType is not null && type == openType;
            if (!continues && open >= 0)
            {
                if (ends[k - 1] > starts[open])
                {
                    spans.Add(new EntitySpan(openType!, starts[open], ends[k - 1], 1.0));
                }

                open = -1;
                openType = null;
            }

            if (!continues && type is not null)
            {
                open = k;
                openType = type;
            }
        }

        return new GoldText(id, doc, text, spans);
    }

    /// <summary>Maps a corpus tag suffix to a Presidio entity type.</summary>
    /// <param name="tag">PER, LOC, ORG, ...</param>
    /// <returns>The Presidio type, or the tag itself when it has no mapping.</returns>
    public static string MapType(string tag) => tag switch
    {
        "PER" or "PERSON" => EntityTypes.Person,
        "LOC" or "GPE" or "LOCATION" => EntityTypes.Location,
        "ORG" or "ORGANIZATION" => EntityTypes.Organization,
        "OTH" or "MISC" or "NORP" => EntityTypes.Nrp,
        _ => tag,
    };
}
