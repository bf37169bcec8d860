namespace CopilotGuard.Anonymization.Ner;

/// <summary>One token of a text: a UTF-16 range, end exclusive.</summary>
/// <param name="Start">The offset of the first character.</param>
/// <param name="End">The offset just past the last character.</param>
public readonly record struct TokenRange(int Start, int End)
{
    /// <summary>Gets the number of characters.</summary>
    public int Length => End - Start;
}

/// <summary>Splits text into word and punctuation tokens for the sequence tagger.</summary>
/// <remarks>
/// A word is a run of letters and digits, joined across an inner apostrophe, hyphen, ampersand or dot when a letter or
/// digit follows ("O'Neil", "Jean-Luc", "AT&amp;T", "U.S"); a trailing dot after a single capital letter stays on the
/// word ("J.", "U.S."). Every other non-space character is a token of its own. Allocation-free.
/// </remarks>
public static class NerTokenizer
{
    /// <summary>Appends the tokens of <paramref name="text"/> to <paramref name="tokens"/>.</summary>
    /// <param name="text">The text.</param>
    /// <param name="tokens">The list receiving the tokens, in order.</param>
    public static void Tokenize(ReadOnlySpan<char> text, List<TokenRange> tokens)
    {
        ArgumentNullException.ThrowIfNull(tokens);
        int i = 0;
        while (i < text.Length)
        {
            char c = text[i];
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            if (!char.IsLetterOrDigit(c))
            {
                // Keep a surrogate pair (emoji) together.
                int len = char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
                tokens.Add(new TokenRange(i, i + len));
                i += len;
                continue;
            }

            int start = i;
            i++;
            while (i < text.Length)
            {
                char d = text[i];
                if (char.IsLetterOrDigit(d))
                {
                    i++;
                }
                else if ((d is '\'' or '\u2019' or '-' or '&' or '.') && i + 1 < text.Length && char.IsLetterOrDigit(text[i + 1]))
                {
                    i += 2;
                }
                else
                {
                    break;
                }
            }

            // "J." and "U.S." keep their dot: a single capital letter (or a dotted abbreviation) before it.
            if (i < text.Length && text[i] == '.' && (i - start == 1 && char.IsUpper(text[start]) || (i - start >= 3 && text[i - 2] == '.')))
            {
                i++;
            }

            tokens.Add(new TokenRange(start, i));
        }
    }
}
