namespace CopilotGuard.Policy;

/// <summary>Thrown when a policy condition cannot be parsed or typed; names the position and the problem.</summary>
public sealed class PolicySyntaxException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PolicySyntaxException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public PolicySyntaxException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public PolicySyntaxException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception for a position in the condition (0-based).</summary>
    public PolicySyntaxException(string message, int position)
        : base(message) => Position = position;

    /// <summary>Gets the 0-based position in the condition text.</summary>
    public int Position { get; }
}
