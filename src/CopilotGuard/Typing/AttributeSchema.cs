using System.Collections.Frozen;
using System.Collections.Immutable;
using CopilotGuard.Filtering;
using CopilotGuard.Policy;

namespace CopilotGuard.Typing;

/// <summary>Where an attribute's type comes from and what it is.</summary>
/// <param name="Kind">The attribute's kind; a multi-valued attribute holds values of this kind.</param>
/// <param name="File">The file that declares or shows it (<c>attributes.yaml</c>, <c>directory.yaml</c>, a
/// <c>source.yaml</c>), or <c>built-in</c>.</param>
/// <param name="Line">The 1-based line in that file, or 0.</param>
public sealed record AttributeDeclaration(AttributeKind Kind, string File, int Line)
{
    /// <summary>The <see cref="File"/> of attributes CopilotGuard itself defines.</summary>
    public const string BuiltInFile = "built-in";

    /// <summary>Gets where the declaration is, as <c>file:line</c> (or <c>built-in</c>).</summary>
    public string Where => Line > 0 ? $"{File}:{Line}" : File;
}

/// <summary>The types of the <c>principal.*</c>, <c>resource.*</c> and <c>request.*</c> attributes that policies are
/// checked against when a bundle loads (like Cedar's schema).</summary>
/// <remarks>
/// Built from the built-in attributes, the data folder's <c>attributes.yaml</c> when there is one, the kinds the
/// directory's principals hold, and the <c>attributes:</c> declarations of corpus sources. With an
/// <c>attributes.yaml</c> the schema is closed: a policy that reads an attribute nothing declares is refused. Without
/// one it is open: such an attribute is accepted untyped, and everything known is still type-checked.
/// </remarks>
public sealed class AttributeSchema
{
    private readonly FrozenDictionary<AttributeScope, FrozenDictionary<string, AttributeDeclaration>> _scopes;

    private AttributeSchema(IReadOnlyDictionary<AttributeScope, Dictionary<string, AttributeDeclaration>> scopes, bool isClosed)
    {
        _scopes = scopes.ToFrozenDictionary(static pair => pair.Key, static pair => pair.Value.ToFrozenDictionary(StringComparer.Ordinal));
        IsClosed = isClosed;
    }

    /// <summary>Gets whether an attribute no source declares is an error (an <c>attributes.yaml</c> exists).</summary>
    public bool IsClosed { get; }

    /// <summary>Gets the attributes CopilotGuard defines itself, with their kinds.</summary>
    public static IReadOnlyDictionary<AttributeScope, ImmutableDictionary<string, AttributeKind>> BuiltInKinds { get; } =
        new Dictionary<AttributeScope, ImmutableDictionary<string, AttributeKind>>
        {
            [AttributeScope.Principal] = ImmutableDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, AttributeKind>
            {
                ["id"] = AttributeKind.String,
                ["kind"] = AttributeKind.String,
                ["clearance"] = AttributeKind.Label,
                ["sources"] = AttributeKind.String,
                ["groups"] = AttributeKind.String,
                ["roles"] = AttributeKind.String,
            }),
            [AttributeScope.Resource] = ImmutableDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, AttributeKind>
            {
                [Retrieval.ResourceAttributeNames.Id] = AttributeKind.String,
                [Retrieval.ResourceAttributeNames.DocumentId] = AttributeKind.String,
                [Retrieval.ResourceAttributeNames.Source] = AttributeKind.String,
                [Retrieval.ResourceAttributeNames.Version] = AttributeKind.Number,
                [Retrieval.ResourceAttributeNames.Subjects] = AttributeKind.String,
                [Retrieval.ResourceAttributeNames.Label] = AttributeKind.Label,
                ["owner"] = AttributeKind.String,
                ["department"] = AttributeKind.String,
                [Labeling.ChunkLabeler.ReasonAttribute] = AttributeKind.String,
            }),
            [AttributeScope.Request] = ImmutableDictionary.CreateRange(StringComparer.Ordinal, new Dictionary<string, AttributeKind>
            {
                ["purpose"] = AttributeKind.String,
                ["destination"] = AttributeKind.String,
            }),
        };

    /// <summary>Gets the schema of the built-in attributes only, open to any other attribute.</summary>
    public static AttributeSchema BuiltIn { get; } = new(BuiltIns(), isClosed: false);

    /// <summary>Gets the attributes of one scope.</summary>
    public IReadOnlyDictionary<string, AttributeDeclaration> this[AttributeScope scope] => _scopes[scope];

    /// <summary>Looks an attribute up.</summary>
    public bool TryGet(AttributeScope scope, string name, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out AttributeDeclaration? declaration) =>
        _scopes[scope].TryGetValue(name, out declaration);

    /// <summary>Builds a schema from its sources; every conflict is listed at once.</summary>
    /// <param name="file">The data folder's <c>attributes.yaml</c>, or <see langword="null"/> (an open schema).</param>
    /// <param name="principals">The principal attribute kinds the directory holds (see <c>DirectoryFile.AttributeKinds</c>).</param>
    /// <param name="sources">The resource attribute declarations of corpus sources (<c>source.yaml</c> <c>attributes:</c>).</param>
    /// <exception cref="PolicyValidationException">Two sources give one attribute different kinds, or a built-in is
    /// redeclared with another kind.</exception>
    public static AttributeSchema Create(
        AttributeSchemaFile? file,
        IReadOnlyDictionary<string, AttributeDeclaration>? principals = null,
        IEnumerable<IReadOnlyDictionary<string, AttributeDeclaration>>? sources = null)
    {
        var scopes = BuiltIns();
        var errors = new List<PolicyError>();
        if (file is not null)
        {
            foreach (var (scope, declarations) in file.Declarations)
            {
                foreach (var (name, declaration) in declarations)
                {
                    Merge(scopes[scope], scope, name, declaration, errors);
                }
            }
        }

        foreach (var (name, declaration) in principals ?? FrozenDictionary<string, AttributeDeclaration>.Empty)
        {
            Merge(scopes[AttributeScope.Principal], AttributeScope.Principal, name, declaration, errors);
        }

        foreach (var source in sources ?? [])
        {
            foreach (var (name, declaration) in source)
            {
                Merge(scopes[AttributeScope.Resource], AttributeScope.Resource, name, declaration, errors);
            }
        }

        return errors.Count > 0 ? throw new PolicyValidationException(errors) : new AttributeSchema(scopes, isClosed: file is not null);
    }

    /// <summary>Returns the name of the scope as policies write it (<c>principal</c>, <c>resource</c>, <c>request</c>).</summary>
    public static string ScopeName(AttributeScope scope) => scope.ToString().ToLowerInvariant();

    private static void Merge(Dictionary<string, AttributeDeclaration> scope, AttributeScope scopeName, string name, AttributeDeclaration declaration, List<PolicyError> errors)
    {
        if (!scope.TryGetValue(name, out var existing))
        {
            scope[name] = declaration;
            return;
        }

        if (existing.Kind != declaration.Kind)
        {
            errors.Add(new PolicyError(declaration.File, declaration.Line, null,
                existing.File == AttributeDeclaration.BuiltInFile
                    ? $"{ScopeName(scopeName)}.{name} is built in as {AttributeValue.KindName(existing.Kind)}; it cannot be {AttributeValue.KindName(declaration.Kind)} here"
                    : $"{ScopeName(scopeName)}.{name} is {AttributeValue.KindName(declaration.Kind)} here but {AttributeValue.KindName(existing.Kind)} in {existing.Where}; an attribute has one type"));
        }
    }

    private static Dictionary<AttributeScope, Dictionary<string, AttributeDeclaration>> BuiltIns() =>
        BuiltInKinds.ToDictionary(
            static pair => pair.Key,
            static pair => pair.Value.ToDictionary(static p => p.Key, static p => new AttributeDeclaration(p.Value, AttributeDeclaration.BuiltInFile, 0), StringComparer.Ordinal));
}
