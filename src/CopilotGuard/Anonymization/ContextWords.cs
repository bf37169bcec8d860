namespace CopilotGuard.Anonymization;

/// <summary>Finds context words near a match, the way Presidio's context enhancer does (a few words before and after).</summary>
internal static class ContextWords
{
    /// <summary>The number of words looked at before a match.</summary>
    internal const int WordsBefore = 5;

    /// <summary>The number of words looked at after a match.</summary>
    internal const int WordsAfter = 2;

    /// <summary>Returns whether any word within reach of [start, end) starts with one of <paramref name="words"/> (case-insensitive).</summary>
    internal static bool Near(ReadOnlySpan<char> text, int start, int end, string[] words)
    {
        if (words.Length == 0)
        {
            return false;
        }

        return NearestBefore(text, start, words, WordsBefore) >= 0 || AnyAfter(text, end, words);
    }

    /// <summary>Returns the distance in words (0 = adjacent) to the nearest preceding word that matches, or -1.</summary>
    internal static int NearestBefore(ReadOnlySpan<char> text, int start, string[] words, int maxWords)
    {
        int pos = start;
        for (int w = 0; w < maxWords; w++)
        {
            // Skip non-letters backwards, then take the letter run.
            while (pos > 0 && !char.IsLetter(text[pos - 1]))
            {
                pos--;
            }

            if (pos == 0)
            {
                return -1;
            }

            int wordEnd = pos;
            while (pos > 0 && char.IsLetter(text[pos - 1]))
            {
                pos--;
            }

            if (Matches(text[pos..wordEnd], words))
            {
                return w;
            }
        }

        return -1;
    }

    private static bool AnyAfter(ReadOnlySpan<char> text, int end, string[] words)
    {
        int pos = end;
        for (int w = 0; w < WordsAfter; w++)
        {
            while (pos < text.Length && !char.IsLetter(text[pos]))
            {
                pos++;
            }

            if (pos >= text.Length)
            {
                return false;
            }

            int wordStart = pos;
            while (pos < text.Length && char.IsLetter(text[pos]))
            {
                pos++;
            }

            if (Matches(text[wordStart..pos], words))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Matches(ReadOnlySpan<char> word, string[] words)
    {
        // An ASCII first letter that differs (in either case) rules a candidate out before the case-insensitive comparison.
        int first = word.Length > 0 && char.IsAsciiLetter(word[0]) ? word[0] | 0x20 : -1;
        foreach (string candidate in words)
        {
            // A context word matches the word itself or an inflection of it ("phone" matches "phones").
            if (word.Length >= candidate.Length && word.Length <= candidate.Length + 3
                && (first < 0 || !char.IsAsciiLetter(candidate[0]) || (candidate[0] | 0x20) == first)
                && word.StartsWith(candidate, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
