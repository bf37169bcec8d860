using System.Collections;
using System.Collections.Frozen;
using System.Collections.Immutable;

namespace CopilotGuard.Filtering;

/// <summary>An immutable map from attribute name to its values; a single-valued attribute has one value.</summary>
/// <remarks>An attribute holding an empty list is present (<c>has</c> is true, <c>x in []</c> is false); only a name
/// that is not in the set is missing.</remarks>
public sealed class AttributeSet : IReadOnlyCollection<KeyValuePair<string, ImmutableArray<AttributeValue>>>
{
    private readonly FrozenDictionary<string, ImmutableArray<AttributeValue>> _values;

    /// <summary>Gets the empty attribute set.</summary>
    public static AttributeSet Empty { get; } = new(FrozenDictionary<string, ImmutableArray<AttributeValue>>.Empty);

    private AttributeSet(FrozenDictionary<string, ImmutableArray<AttributeValue>> values) => _values = values;

    /// <summary>Creates a set from name/values pairs; an empty list is a present attribute, a default array is skipped.</summary>
    public static AttributeSet Create(IEnumerable<KeyValuePair<string, ImmutableArray<AttributeValue>>> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        return new(values
            .Where(static pair => !pair.Value.IsDefault)
            .ToFrozenDictionary(static pair => pair.Key, static pair => pair.Value, StringComparer.Ordinal));
    }

    /// <summary>Gets the number of attributes present.</summary>
    public int Count => _values.Count;

    /// <summary>Gets the attribute names present.</summary>
    public IEnumerable<string> Names => _values.Keys;

    /// <summary>Gets the values of an attribute; returns false when it is absent.</summary>
    public bool TryGet(string name, out ImmutableArray<AttributeValue> values) => _values.TryGetValue(name, out values);

    /// <summary>Returns a copy with one attribute replaced: removed when <paramref name="values"/> is a default array,
    /// present and empty when it is an empty one.</summary>
    public AttributeSet With(string name, ImmutableArray<AttributeValue> values)
    {
        var copy = new Dictionary<string, ImmutableArray<AttributeValue>>(_values, StringComparer.Ordinal);
        if (values.IsDefault)
        {
            copy.Remove(name);
        }
        else
        {
            copy[name] = values;
        }

        return Create(copy);
    }

    /// <inheritdoc />
    public IEnumerator<KeyValuePair<string, ImmutableArray<AttributeValue>>> GetEnumerator() =>
        ((IEnumerable<KeyValuePair<string, ImmutableArray<AttributeValue>>>)_values).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}

/// <summary>A mutable builder for <see cref="AttributeSet"/>.</summary>
public sealed class AttributeSetBuilder
{
    private readonly Dictionary<string, List<AttributeValue>> _values = new(StringComparer.Ordinal);

    /// <summary>Adds one value to an attribute.</summary>
    public AttributeSetBuilder Add(string name, AttributeValue value)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!_values.TryGetValue(name, out var list))
        {
            _values[name] = list = [];
        }

        if (!list.Exists(existing => existing.ValueEquals(value)))
        {
            list.Add(value);
        }

        return this;
    }

    /// <summary>Makes an attribute present without adding a value, so that an empty list (<c>[]</c>) stays present.</summary>
    public AttributeSetBuilder Declare(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (!_values.ContainsKey(name))
        {
            _values[name] = [];
        }

        return this;
    }

    /// <summary>Adds a string value to an attribute.</summary>
    public AttributeSetBuilder Add(string name, string value) => Add(name, AttributeValue.FromString(value));

    /// <summary>Adds string values to an attribute.</summary>
    public AttributeSetBuilder AddRange(string name, IEnumerable<string> values)
    {
        ArgumentNullException.ThrowIfNull(values);
        foreach (var value in values)
        {
            Add(name, value);
        }

        return this;
    }

    /// <summary>Builds the immutable set.</summary>
    public AttributeSet Build() =>
        AttributeSet.Create(_values.Select(static pair =>
            new KeyValuePair<string, ImmutableArray<AttributeValue>>(pair.Key, [.. pair.Value])));
}
