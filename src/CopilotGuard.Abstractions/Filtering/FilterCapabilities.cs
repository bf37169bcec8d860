namespace CopilotGuard.Filtering;

/// <summary>Declares which filter nodes a store can evaluate natively.</summary>
/// <remarks>What a store cannot push down is widened to <c>true</c> in the pushed filter and applied exactly
/// after the query by the broker; a condition is never dropped.</remarks>
[Flags]
public enum FilterCapabilities
{
    /// <summary>Nothing is pushed down: the store returns candidates and the broker filters them.</summary>
    None = 0,

    /// <summary>Equality comparisons.</summary>
    Equality = 1,

    /// <summary>Range comparisons on numbers and labels.</summary>
    Range = 2,

    /// <summary>Membership in a list of values (and set overlap).</summary>
    In = 4,

    /// <summary>Attribute presence.</summary>
    Has = 8,

    /// <summary>String prefix.</summary>
    StartsWith = 16,

    /// <summary>Negation of leaves.</summary>
    Not = 32,

    /// <summary>Every operator.</summary>
    All = Equality | Range | In | Has | StartsWith | Not,
}
