using CopilotGuard.Filtering;
using CopilotGuard.Policy;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Typing;

/// <summary>Thrown when a chunk store holds attribute values of another type than the schema declares (chunks ingested
/// before attributes were typed); names the attributes and says to ingest again.</summary>
public sealed class StoredAttributeTypeException : Exception
{
    /// <summary>Creates the exception.</summary>
    public StoredAttributeTypeException()
        : this("The store holds attribute values of another type than the schema declares.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public StoredAttributeTypeException(string message)
        : base(message) => Mismatches = [];

    /// <summary>Creates the exception with a message and cause.</summary>
    public StoredAttributeTypeException(string message, Exception innerException)
        : base(message, innerException) => Mismatches = [];

    /// <summary>Creates the exception for the mismatches found.</summary>
    public StoredAttributeTypeException(string storeName, IReadOnlyList<StoredAttributeMismatch> mismatches)
        : base(FormatMessage(storeName, mismatches)) => Mismatches = mismatches;

    /// <summary>Gets every attribute whose stored values do not have its declared type.</summary>
    public IReadOnlyList<StoredAttributeMismatch> Mismatches { get; }

    private static string FormatMessage(string storeName, IReadOnlyList<StoredAttributeMismatch> mismatches) =>
        $"The {storeName} store holds values of another type than the attribute schema declares, for "
        + string.Join("; ", mismatches.Select(static m => m.ToString()))
        + ". These chunks were ingested before attributes were typed (a boolean or number then became a string). "
        + "Run `copilotguard ingest <corpus> --data <folder>` again for every corpus in the store; re-ingestion rewrites the chunks with typed attributes.";
}

/// <summary>One attribute a store holds with values of an undeclared kind.</summary>
/// <param name="Name">The resource attribute name.</param>
/// <param name="Declaration">Its declaration.</param>
/// <param name="StoredKinds">The other kinds the store holds for it.</param>
public sealed record StoredAttributeMismatch(string Name, AttributeDeclaration Declaration, IReadOnlyList<AttributeKind> StoredKinds)
{
    /// <inheritdoc />
    public override string ToString() =>
        $"resource.{Name} (declared {AttributeValue.KindName(Declaration.Kind)} in {Declaration.Where}, stored as {string.Join(" and ", StoredKinds.Select(AttributeValue.KindName))})";
}

/// <summary>Compares what a store holds with the resource part of an <see cref="AttributeSchema"/> (the migration check
/// for stores ingested before attributes were typed).</summary>
public static class StoredAttributeTypes
{
    /// <summary>Returns every declared resource attribute the store holds with values of another kind.</summary>
    public static IReadOnlyList<StoredAttributeMismatch> FindMismatches(AttributeSchema schema, IReadOnlyDictionary<string, IReadOnlySet<AttributeKind>> stored)
    {
        ArgumentNullException.ThrowIfNull(schema);
        ArgumentNullException.ThrowIfNull(stored);
        var mismatches = new List<StoredAttributeMismatch>();
        foreach (var (name, declaration) in schema[AttributeScope.Resource].OrderBy(static pair => pair.Key, StringComparer.Ordinal))
        {
            if (stored.TryGetValue(name, out var kinds) && kinds.Any(kind => kind != declaration.Kind))
            {
                mismatches.Add(new StoredAttributeMismatch(name, declaration, [.. kinds.Where(kind => kind != declaration.Kind).Order()]));
            }
        }

        return mismatches;
    }

    /// <summary>Refuses a store that holds values of another kind than the schema declares.</summary>
    /// <returns><see langword="false"/> when the store cannot list its attribute kinds (nothing was checked), otherwise <see langword="true"/>.</returns>
    /// <exception cref="StoredAttributeTypeException">Some attribute is stored with another kind; every one is named.</exception>
    public static async Task<bool> EnsureMatchAsync(IChunkStore store, AttributeSchema schema, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(store);
        var stored = await store.GetAttributeKindsAsync(cancellationToken).ConfigureAwait(false);
        if (stored is null)
        {
            return false;
        }

        var mismatches = FindMismatches(schema, stored);
        return mismatches.Count > 0 ? throw new StoredAttributeTypeException(store.Name, mismatches) : true;
    }
}
