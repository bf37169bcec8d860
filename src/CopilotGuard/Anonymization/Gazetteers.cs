using System.Collections.Frozen;
using System.IO.Compression;
using System.Reflection;

namespace CopilotGuard.Anonymization;

/// <summary>Kinds of place in the gazetteer; a country or first-level subdivision is more certain than a city.</summary>
internal enum PlaceKind : byte
{
    City = 1,
    Subdivision = 2,
    Country = 3,
}

/// <summary>Loads the embedded name and place lists (see Data/README.md for their sources and licences).</summary>
internal sealed class Gazetteers
{
    private static readonly Lazy<Gazetteers> s_default = new(Load);

    private Gazetteers(FrozenDictionary<string, int> given, FrozenDictionary<string, int> surnames, FrozenDictionary<string, PlaceKind> places)
    {
        GivenNames = given;
        Surnames = surnames;
        Places = places;
        GivenLookup = given.GetAlternateLookup<ReadOnlySpan<char>>();
        SurnameLookup = surnames.GetAlternateLookup<ReadOnlySpan<char>>();
        PlaceLookup = places.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>Gets the lists loaded from the engine's embedded resources.</summary>
    public static Gazetteers Default => s_default.Value;

    /// <summary>Gets given names with their frequency.</summary>
    public FrozenDictionary<string, int> GivenNames { get; }

    /// <summary>Gets surnames with their frequency rank (1 = most frequent).</summary>
    public FrozenDictionary<string, int> Surnames { get; }

    /// <summary>Gets place names (single or multi-word, single spaces) with their kind.</summary>
    public FrozenDictionary<string, PlaceKind> Places { get; }

    public FrozenDictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> GivenLookup { get; }

    public FrozenDictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> SurnameLookup { get; }

    public FrozenDictionary<string, PlaceKind>.AlternateLookup<ReadOnlySpan<char>> PlaceLookup { get; }

    private static Gazetteers Load()
    {
        var given = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        foreach (string line in ReadLines("given-names.txt.gz"))
        {
            int tab = line.IndexOf('\t', StringComparison.Ordinal);
            string name = tab < 0 ? line : line[..tab];
            int count = tab < 0 ? 1 : int.Parse(line.AsSpan(tab + 1), System.Globalization.CultureInfo.InvariantCulture);
            given[name] = Math.Max(count, given.GetValueOrDefault(name));
        }

        var surnames = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        int rank = 0;
        foreach (string line in ReadLines("surnames.txt.gz"))
        {
            surnames.TryAdd(line, ++rank);
        }

        var places = new Dictionary<string, PlaceKind>(StringComparer.OrdinalIgnoreCase);
        foreach (string line in ReadLines("places.txt.gz"))
        {
            if (line.Length < 3 || line[1] != '\t')
            {
                continue;
            }

            PlaceKind kind = line[0] switch { 'C' => PlaceKind.Country, 'S' => PlaceKind.Subdivision, _ => PlaceKind.City };
            string name = line[2..];
            if (name.Length >= 3 && (!places.TryGetValue(name, out PlaceKind existing) || existing < kind))
            {
                places[name] = kind;
            }
        }

        foreach (string alias in (string[])["USA", "U.S.", "UK", "U.K.", "United States of America", "England", "Scotland", "Wales", "Europe", "Asia", "Africa", "North America", "South America", "Latin America", "Middle East", "New York", "Frankfurt", "Washington D.C."])
        {
            places[alias] = PlaceKind.Country;
        }

        return new Gazetteers(
            given.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            surnames.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase),
            places.ToFrozenDictionary(StringComparer.OrdinalIgnoreCase));
    }

    internal static IEnumerable<string> ReadLines(string resource)
    {
        Assembly assembly = typeof(Gazetteers).Assembly;
        using Stream stream = assembly.GetManifestResourceStream("CopilotGuard.Anonymization.Data." + resource)
            ?? throw new InvalidOperationException($"The embedded gazetteer '{resource}' is missing.");
        using var gzip = new GZipStream(stream, CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0)
            {
                yield return line;
            }
        }
    }
}
