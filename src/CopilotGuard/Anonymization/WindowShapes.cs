namespace CopilotGuard.Anonymization;

/// <summary>Shape tests on a candidate window's digit groups, run before a numeric pattern's regex.</summary>
/// <remarks>
/// Each test is a necessary condition of one built-in regex: it returns <see langword="false"/> only when that regex
/// cannot match anywhere in the window, so skipping the regex never changes the result (the differential tests check
/// this against the plain scanner). Digit groups are runs of Unicode decimal digits, as <c>\d</c> matches them, recorded
/// by <see cref="PatternRecognizer.Measure"/>; a window with more groups than it records passes every group test.
/// </remarks>
internal static class WindowShapes
{
    /// <summary>US_SSN: nine digits in one run, or 3+, 2, 4+ digits joined by the same one of '-', ' ', '.'.</summary>
    public static bool Ssn(ReadOnlySpan<char> w, in WindowStats st) => HasFreeRun(w, st, 9, int.MaxValue) || HasThreeGroups(w, st, 2, "- .");

    /// <summary>UK_NHS: ten digits in one run, or 3+, 3, 4+ digits joined by the same one of '-', ' '.</summary>
    public static bool Nhs(ReadOnlySpan<char> w, in WindowStats st) => HasFreeRun(w, st, 10, int.MaxValue) || HasThreeGroups(w, st, 3, "- ");

    /// <summary>ABA routing: nine digits in one run, or a free group of 4+ digits followed by '-' and a digit.</summary>
    public static bool Aba(ReadOnlySpan<char> w, in WindowStats st)
    {
        if (st.GroupCount > WindowStats.MaxGroups || HasFreeRun(w, st, 9, int.MaxValue))
        {
            return true;
        }

        for (int k = 0; k < st.GroupCount; k++)
        {
            int i = st.GroupStarts[k], len = st.GroupLengths[k], end = i + len;
            if (len >= 4 && IsFreeStart(w, i) && end + 1 < w.Length && w[end] == '-' && char.IsDigit(w[end + 1]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>CREDIT_CARD: groups joined by single '-' or ' ', from a free group on, holding 13 digits or more.</summary>
    public static bool CreditCard(ReadOnlySpan<char> w, in WindowStats st)
    {
        if (st.GroupCount > WindowStats.MaxGroups)
        {
            return true;
        }

        // A match starts at a free group (its look-behind) and runs through groups joined by single separators; count
        // the digits of each chain from its first free group on.
        int chainDigits = 0;
        bool chainFree = false;
        int previousEnd = -2;
        for (int k = 0; k < st.GroupCount; k++)
        {
            int i = st.GroupStarts[k], len = st.GroupLengths[k];
            bool joined = i == previousEnd + 1 && w[previousEnd] is '-' or ' ';
            if (!joined)
            {
                chainDigits = 0;
                chainFree = false;
            }

            if (!chainFree && IsFreeStart(w, i))
            {
                chainFree = true;
                chainDigits = 0;
            }

            chainDigits += len;
            if (chainFree && chainDigits >= 13)
            {
                return true;
            }

            previousEnd = i + len;
        }

        return false;
    }

    /// <summary>
    /// PHONE_NUMBER as the validator accepts it: six digits or more in groups joined only by ' ', '-', '.', '/', '(', ')', '+'
    /// (a match's number part holds nothing else, and the validator needs six digits there).
    /// </summary>
    public static bool Phone(ReadOnlySpan<char> w, in WindowStats st)
    {
        if (st.GroupCount > WindowStats.MaxGroups)
        {
            return true;
        }

        int chainDigits = 0, previousEnd = -1;
        for (int k = 0; k < st.GroupCount; k++)
        {
            int i = st.GroupStarts[k];
            if (previousEnd < 0 || w[previousEnd..i].ContainsAnyExcept(" -./()+"))
            {
                chainDigits = 0;
            }

            chainDigits += st.GroupLengths[k];
            if (chainDigits >= 6)
            {
                return true;
            }

            previousEnd = i + st.GroupLengths[k];
        }

        return false;
    }

    /// <summary>US_BANK_NUMBER: a free run of 8 to 17 digits.</summary>
    public static bool BankNumber(ReadOnlySpan<char> w, in WindowStats st) => HasFreeRun(w, st, 8, 17);

    /// <summary>US_NPI: a free run of exactly 10 digits.</summary>
    public static bool Npi(ReadOnlySpan<char> w, in WindowStats st) => HasFreeRun(w, st, 10, 10);

    /// <summary>US_PASSPORT: a free run of 9 digits, or a run of 8 digits after a capital letter.</summary>
    public static bool Passport(ReadOnlySpan<char> w, in WindowStats st)
    {
        if (st.GroupCount > WindowStats.MaxGroups)
        {
            return true;
        }

        for (int k = 0; k < st.GroupCount; k++)
        {
            int i = st.GroupStarts[k], len = st.GroupLengths[k];
            if ((len == 9 && IsFreeStart(w, i)) || (len == 8 && i > 0 && char.IsAsciiLetterUpper(w[i - 1])))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>MEDICAL_LICENSE (DEA): a run of 7 digits, or of 8 starting with 9, right after a letter.</summary>
    public static bool Dea(ReadOnlySpan<char> w, in WindowStats st)
    {
        if (st.GroupCount > WindowStats.MaxGroups)
        {
            return true;
        }

        for (int k = 0; k < st.GroupCount; k++)
        {
            int i = st.GroupStarts[k], len = st.GroupLengths[k];
            if ((len == 7 || (len == 8 && w[i] == '9')) && i > 0 && char.IsAsciiLetter(w[i - 1]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>DATE_TIME in numbers: a digit, one of '/', '-', '.', one or two digits, one of '/', '-', '.', a digit.</summary>
    public static bool NumericDate(ReadOnlySpan<char> w, in WindowStats st)
    {
        if (st.GroupCount > WindowStats.MaxGroups)
        {
            return true;
        }

        for (int k = 1; k + 1 < st.GroupCount; k++)
        {
            int i = st.GroupStarts[k], len = st.GroupLengths[k], end = i + len;
            if (len <= 2 && st.GroupStarts[k - 1] + st.GroupLengths[k - 1] == i - 1 && st.GroupStarts[k + 1] == end + 1
                && w[i - 1] is '/' or '-' or '.' && w[end] is '/' or '-' or '.')
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>MAC_ADDRESS: five ':' or five '-' between hexadecimal digits, or two '.' between them.</summary>
    public static bool MacAddress(ReadOnlySpan<char> w)
    {
        int colons = 0, hyphens = 0, dots = 0;
        for (int i = 1; i + 1 < w.Length; i++)
        {
            char c = w[i];
            if (c is ':' or '-' or '.' && char.IsAsciiHexDigit(w[i - 1]) && char.IsAsciiHexDigit(w[i + 1]))
            {
                switch (c)
                {
                    case ':': colons++; break;
                    case '-': hyphens++; break;
                    default: dots++; break;
                }
            }
        }

        return colons >= 5 || hyphens >= 5 || dots >= 2;
    }

    /// <summary>
    /// URL without a scheme: a '.' before a letter whose host run (letters, digits, '-', '.', scanning back) does not start
    /// right after one of '@', '/', '%', '_' (the look-behind <c>(?&lt;![\w@.\-/%])</c> that keeps e-mail domains and paths out).
    /// </summary>
    public static bool BareHost(ReadOnlySpan<char> w)
    {
        for (int d = w.IndexOf('.'); d >= 0; d = NextDot(w, d))
        {
            if (d + 1 >= w.Length || !(char.IsAsciiLetter(w[d + 1]) || w[d + 1] >= 128))
            {
                continue;
            }

            // Non-ASCII characters count as host characters here: case-insensitive classes may take some of them.
            int r = d;
            while (r > 0 && (char.IsAsciiLetterOrDigit(w[r - 1]) || w[r - 1] is '-' or '.' || w[r - 1] >= 128))
            {
                r--;
            }

            if (r == 0 || w[r - 1] is not ('@' or '/' or '%' or '_'))
            {
                return true;
            }
        }

        return false;
    }

    private static int NextDot(ReadOnlySpan<char> w, int d)
    {
        int next = w[(d + 1)..].IndexOf('.');
        return next < 0 ? -1 : d + 1 + next;
    }

    /// <summary>Returns whether a run of <paramref name="min"/> to <paramref name="max"/> digits starts where the built-in look-behind <c>(?&lt;![\w\-.])</c> allows.</summary>
    private static bool HasFreeRun(ReadOnlySpan<char> w, in WindowStats st, int min, int max)
    {
        if (st.GroupCount > WindowStats.MaxGroups)
        {
            return true;
        }

        for (int k = 0; k < st.GroupCount; k++)
        {
            int len = st.GroupLengths[k];
            if (len >= min && len <= max && IsFreeStart(w, st.GroupStarts[k]))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Returns whether a free group of 3+ digits, a group of exactly <paramref name="middle"/> digits and a group of 4+ digits are joined by the same single separator.</summary>
    private static bool HasThreeGroups(ReadOnlySpan<char> w, in WindowStats st, int middle, ReadOnlySpan<char> separators)
    {
        if (st.GroupCount > WindowStats.MaxGroups)
        {
            return true;
        }

        for (int k = 1; k + 1 < st.GroupCount; k++)
        {
            int i = st.GroupStarts[k], end = i + st.GroupLengths[k];
            int firstStart = st.GroupStarts[k - 1], firstLength = st.GroupLengths[k - 1];
            if (st.GroupLengths[k] == middle && firstStart + firstLength == i - 1 && st.GroupStarts[k + 1] == end + 1
                && w[i - 1] == w[end] && separators.Contains(w[end]) && firstLength >= 3 && st.GroupLengths[k + 1] >= 4 && IsFreeStart(w, firstStart))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Returns false when the character before <paramref name="start"/> surely defeats <c>(?&lt;![\w\-.])</c> (a letter, digit, '_', '-' or '.').</summary>
    private static bool IsFreeStart(ReadOnlySpan<char> w, int start) =>
        start == 0 || !(char.IsLetterOrDigit(w[start - 1]) || w[start - 1] is '_' or '-' or '.');
}
