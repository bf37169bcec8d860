using System.Buffers;
using System.Security.Cryptography;

namespace CopilotGuard.Anonymization;

/// <summary>Implements the check-digit and encoding validators the pattern recognizers use.</summary>
/// <remarks>Every method ignores the separators <c>' '</c>, <c>'-'</c> and <c>'.'</c> and rejects any other non-digit.</remarks>
internal static class Checksums
{
    private const int MaxDigits = 64;

    /// <summary>Copies the digits of <paramref name="value"/> into <paramref name="digits"/>; returns -1 on an unexpected character.</summary>
    internal static int CollectDigits(ReadOnlySpan<char> value, Span<byte> digits)
    {
        int n = 0;
        foreach (char c in value)
        {
            if (c is >= '0' and <= '9')
            {
                if (n == digits.Length)
                {
                    return -1;
                }

                digits[n++] = (byte)(c - '0');
            }
            else if (c is not (' ' or '-' or '.'))
            {
                return -1;
            }
        }

        return n;
    }

    /// <summary>Returns whether the digits pass the Luhn (mod 10) check used by payment cards and NPIs.</summary>
    internal static bool Luhn(ReadOnlySpan<char> value)
    {
        Span<byte> d = stackalloc byte[MaxDigits];
        int n = CollectDigits(value, d);
        return n >= 2 && Luhn(d[..n]);
    }

    private static bool Luhn(ReadOnlySpan<byte> digits)
    {
        int sum = 0;
        bool dbl = false;
        for (int i = digits.Length - 1; i >= 0; i--)
        {
            int v = digits[i];
            if (dbl)
            {
                v *= 2;
                if (v > 9)
                {
                    v -= 9;
                }
            }

            sum += v;
            dbl = !dbl;
        }

        return sum % 10 == 0;
    }

    /// <summary>Returns whether a 10-digit US NPI passes the Luhn check over the 80840 prefix.</summary>
    internal static bool Npi(ReadOnlySpan<char> value)
    {
        Span<byte> d = stackalloc byte[15];
        d[0] = 8; d[1] = 0; d[2] = 8; d[3] = 4; d[4] = 0;
        int n = CollectDigits(value, d[5..]);
        return n == 10 && d[5] is 1 or 2 && Luhn(d);
    }

    /// <summary>Returns whether a 9-digit ABA routing number passes the 3-7-1 weighted mod-10 check.</summary>
    internal static bool AbaRouting(ReadOnlySpan<char> value)
    {
        Span<byte> d = stackalloc byte[9];
        if (CollectDigits(value, d) != 9)
        {
            return false;
        }

        int sum = (3 * (d[0] + d[3] + d[6])) + (7 * (d[1] + d[4] + d[7])) + d[2] + d[5] + d[8];
        return sum % 10 == 0 && sum != 0;
    }

    /// <summary>Returns whether a 10-digit UK NHS number passes the mod-11 check.</summary>
    internal static bool NhsMod11(ReadOnlySpan<char> value)
    {
        Span<byte> d = stackalloc byte[10];
        if (CollectDigits(value, d) != 10)
        {
            return false;
        }

        int sum = 0;
        for (int i = 0; i < 9; i++)
        {
            sum += d[i] * (10 - i);
        }

        int check = 11 - (sum % 11);
        if (check == 11)
        {
            check = 0;
        }

        return check != 10 && check == d[9];
    }

    /// <summary>Returns whether a DEA registration number (two letters and seven digits) has a valid check digit.</summary>
    internal static bool Dea(ReadOnlySpan<char> value)
    {
        if (value.Length != 9 || !char.IsAsciiLetter(value[0]) || !(char.IsAsciiLetter(value[1]) || value[1] == '9'))
        {
            return false;
        }

        Span<byte> d = stackalloc byte[7];
        if (CollectDigits(value[2..], d) != 7)
        {
            return false;
        }

        int sum = d[0] + d[2] + d[4] + (2 * (d[1] + d[3] + d[5]));
        return sum % 10 == d[6];
    }

    /// <summary>Applies Presidio's US SSN invalidation rules; returns <see langword="true"/> when the value may be an SSN.</summary>
    /// <remarks>Rejects mixed delimiters, one repeated digit, group 00, serial 0000, area 000 or 666, and the advertised sample numbers.</remarks>
    internal static bool SsnPlausible(ReadOnlySpan<char> value)
    {
        char delimiter = '\0';
        foreach (char c in value)
        {
            if (c is '-' or '.' or ' ')
            {
                if (delimiter != '\0' && delimiter != c)
                {
                    return false;
                }

                delimiter = c;
            }
        }

        Span<byte> d = stackalloc byte[9];
        if (CollectDigits(value, d) != 9)
        {
            return false;
        }

        bool allSame = true;
        for (int i = 1; i < 9; i++)
        {
            allSame &= d[i] == d[0];
        }

        if (allSame || (d[3] == 0 && d[4] == 0) || (d[5] == 0 && d[6] == 0 && d[7] == 0 && d[8] == 0))
        {
            return false;
        }

        Span<char> digits = stackalloc char[9];
        for (int i = 0; i < 9; i++)
        {
            digits[i] = (char)('0' + d[i]);
        }

        ReadOnlySpan<char> s = digits;
        return !(s.StartsWith("000") || s.StartsWith("666") || s.StartsWith("123456789") || s.StartsWith("98765432") || s.StartsWith("078051120"));
    }

    private static readonly Dictionary<string, int> s_ibanLengths = new(StringComparer.Ordinal)
    {
        ["AD"] = 24, ["AE"] = 23, ["AL"] = 28, ["AT"] = 20, ["AZ"] = 28, ["BA"] = 20, ["BE"] = 16, ["BG"] = 22,
        ["BH"] = 22, ["BI"] = 27, ["BR"] = 29, ["BY"] = 28, ["CH"] = 21, ["CR"] = 22, ["CY"] = 28, ["CZ"] = 24,
        ["DE"] = 22, ["DJ"] = 27, ["DK"] = 18, ["DO"] = 28, ["EE"] = 20, ["EG"] = 29, ["ES"] = 24, ["FI"] = 18,
        ["FK"] = 18, ["FO"] = 18, ["FR"] = 27, ["GB"] = 22, ["GE"] = 22, ["GI"] = 23, ["GL"] = 18, ["GR"] = 27,
        ["GT"] = 28, ["HR"] = 21, ["HU"] = 28, ["IE"] = 22, ["IL"] = 23, ["IQ"] = 23, ["IS"] = 26, ["IT"] = 27,
        ["JO"] = 30, ["KW"] = 30, ["KZ"] = 20, ["LB"] = 28, ["LC"] = 32, ["LI"] = 21, ["LT"] = 20, ["LU"] = 20,
        ["LV"] = 21, ["LY"] = 25, ["MC"] = 27, ["MD"] = 24, ["ME"] = 22, ["MK"] = 19, ["MN"] = 20, ["MR"] = 27,
        ["MT"] = 31, ["MU"] = 30, ["NI"] = 28, ["NL"] = 18, ["NO"] = 15, ["OM"] = 23, ["PK"] = 24, ["PL"] = 28,
        ["PS"] = 29, ["PT"] = 25, ["QA"] = 29, ["RO"] = 24, ["RS"] = 22, ["RU"] = 33, ["SA"] = 24, ["SC"] = 31,
        ["SD"] = 18, ["SE"] = 24, ["SI"] = 19, ["SK"] = 24, ["SM"] = 27, ["SO"] = 23, ["ST"] = 25, ["SV"] = 28,
        ["TL"] = 23, ["TN"] = 24, ["TR"] = 26, ["UA"] = 29, ["VA"] = 22, ["VG"] = 24, ["XK"] = 20, ["YE"] = 30,
    };

    private static readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> s_ibanLookup = s_ibanLengths.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>Returns whether an IBAN (spaces or dashes allowed) has its country's length and valid mod-97 check digits.</summary>
    internal static bool Iban(ReadOnlySpan<char> value)
    {
        Span<char> compact = stackalloc char[40];
        int n = 0;
        foreach (char c in value)
        {
            if (c is ' ' or '-')
            {
                continue;
            }

            if (!char.IsAsciiLetterOrDigit(c) || n == compact.Length)
            {
                return false;
            }

            compact[n++] = char.ToUpperInvariant(c);
        }

        if (n < 15 || !char.IsAsciiLetter(compact[0]) || !char.IsAsciiLetter(compact[1])
            || !s_ibanLookup.TryGetValue(compact[..2], out int expected) || expected != n)
        {
            return false;
        }

        // Move the first four characters to the end and compute mod 97 over the letters-as-numbers expansion.
        int remainder = 0;
        for (int k = 0; k < n; k++)
        {
            char c = compact[(k + 4) % n];
            if (char.IsAsciiDigit(c))
            {
                remainder = ((remainder * 10) + (c - '0')) % 97;
            }
            else
            {
                int v = c - 'A' + 10;
                remainder = ((remainder * 100) + v) % 97;
            }
        }

        return remainder == 1;
    }

    private const string Base58Alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

    /// <summary>Returns whether a Base58Check string (a legacy Bitcoin address) decodes to 25 bytes with a valid double-SHA-256 checksum.</summary>
    internal static bool Base58Check(ReadOnlySpan<char> value)
    {
        if (value.Length is < 26 or > 35)
        {
            return false;
        }

        Span<byte> bytes = stackalloc byte[40];
        bytes.Clear();
        foreach (char c in value)
        {
            int carry = Base58Alphabet.IndexOf(c, StringComparison.Ordinal);
            if (carry < 0)
            {
                return false;
            }

            for (int i = bytes.Length - 1; i >= 0; i--)
            {
                carry += 58 * bytes[i];
                bytes[i] = (byte)carry;
                carry >>= 8;
            }

            if (carry != 0)
            {
                return false;
            }
        }

        int leadingOnes = 0;
        while (leadingOnes < value.Length && value[leadingOnes] == '1')
        {
            leadingOnes++;
        }

        int firstNonZero = 0;
        while (firstNonZero < bytes.Length && bytes[firstNonZero] == 0)
        {
            firstNonZero++;
        }

        int length = leadingOnes + (bytes.Length - firstNonZero);
        if (length != 25)
        {
            return false;
        }

        Span<byte> decoded = stackalloc byte[25];
        decoded.Clear();
        bytes[firstNonZero..].CopyTo(decoded[leadingOnes..]);
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(decoded[..21], hash);
        SHA256.HashData(hash, hash);
        return hash[..4].SequenceEqual(decoded[21..]);
    }

    private const string Bech32Charset = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

    /// <summary>Returns whether a string is a valid Bech32 or Bech32m (segwit) address with human-readable part bc or tb.</summary>
    internal static bool Bech32(ReadOnlySpan<char> value)
    {
        if (value.Length is < 14 or > 90)
        {
            return false;
        }

        int sep = value.LastIndexOf('1');
        if (sep < 1 || sep + 7 > value.Length)
        {
            return false;
        }

        bool lower = false, upper = false;
        foreach (char c in value)
        {
            lower |= char.IsAsciiLetterLower(c);
            upper |= char.IsAsciiLetterUpper(c);
        }

        if (lower && upper)
        {
            return false;
        }

        Span<char> hrp = stackalloc char[sep];
        for (int i = 0; i < sep; i++)
        {
            hrp[i] = char.ToLowerInvariant(value[i]);
        }

        if (!hrp.SequenceEqual("bc") && !hrp.SequenceEqual("tb"))
        {
            return false;
        }

        uint chk = 1;
        foreach (char c in hrp)
        {
            chk = Polymod(chk) ^ (uint)(c >> 5);
        }

        chk = Polymod(chk);
        foreach (char c in hrp)
        {
            chk = Polymod(chk) ^ (uint)(c & 31);
        }

        for (int i = sep + 1; i < value.Length; i++)
        {
            int v = Bech32Charset.IndexOf(char.ToLowerInvariant(value[i]), StringComparison.Ordinal);
            if (v < 0)
            {
                return false;
            }

            chk = Polymod(chk) ^ (uint)v;
        }

        return chk is 1 or 0x2bc830a3;
    }

    private static uint Polymod(uint chk)
    {
        uint b = chk >> 25;
        chk = (chk & 0x1ffffff) << 5;
        if ((b & 1) != 0) { chk ^= 0x3b6a57b2; }
        if ((b & 2) != 0) { chk ^= 0x26508e6d; }
        if ((b & 4) != 0) { chk ^= 0x1ea119fa; }
        if ((b & 8) != 0) { chk ^= 0x3d4233dd; }
        if ((b & 16) != 0) { chk ^= 0x2a1462b3; }
        return chk;
    }

    /// <summary>Returns whether the value is a crypto wallet address: Base58Check or Bech32/Bech32m.</summary>
    internal static bool CryptoAddress(ReadOnlySpan<char> value) =>
        value.StartsWith("bc1", StringComparison.OrdinalIgnoreCase) || value.StartsWith("tb1", StringComparison.OrdinalIgnoreCase)
            ? Bech32(value)
            : Base58Check(value);

    internal static readonly SearchValues<char> Separators = SearchValues.Create(" -.");
}
