using System.Buffers;
using System.Net;
using System.Text.RegularExpressions;

namespace CopilotGuard.Anonymization;

/// <summary>Defines the built-in patterns: source-generated regexes, their validators, scores and context words.</summary>
/// <remarks>
/// The regexes run only on short candidate windows (see <see cref="PatternRecognizer"/>), so their
/// look-arounds treat a window edge as whitespace. Scores follow Presidio's where it has one; checksum-validated
/// matches of long, specific formats score 1.0, weak checksums (one digit in ten) keep a low score that context raises.
/// </remarks>
internal static partial class BuiltInPatterns
{
    private const RegexOptions Opts = RegexOptions.CultureInvariant | RegexOptions.ExplicitCapture;

    // ---------------------------------------------------------------- e-mail
    [GeneratedRegex(@"(?<![A-Za-z0-9!#$%&'*+/=?^_`{|}~.\-])[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~\-]+)*@(?:(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9_\-]|\.[A-Za-z0-9])|\[(?:\d{1,3}\.){3}\d{1,3}\])", Opts)]
    private static partial Regex EmailRegex();

    // ---------------------------------------------------------------- URL
    [GeneratedRegex(@"(?:(?<![A-Za-z0-9])(?<s>(?:https?|ftps?)://)(?:localhost|(?:\d{1,3}\.){3}\d{1,3}|(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24})|(?<![\w@.\-/%])(?<s>www\.)(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}|(?<![\w@.\-/%])(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![A-Za-z0-9\-]|://))(?::\d{1,5})?(?:[/?#][A-Za-z0-9\-._~:/?#\[\]@!$&()*+,;=%]*)?", Opts | RegexOptions.IgnoreCase)]
    private static partial Regex UrlRegex();

    // ---------------------------------------------------------------- IP
    [GeneratedRegex(@"(?<![\w.])(?:(?:25[0-5]|2[0-4]\d|[01]?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|[01]?\d?\d)(?!\d|\.\d)", Opts)]
    private static partial Regex Ipv4Regex();

    [GeneratedRegex(@"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:])", Opts)]
    private static partial Regex Ipv6Regex();

    // ---------------------------------------------------------------- MAC
    [GeneratedRegex(@"(?<![\w:\-.])(?:[0-9A-Fa-f]{2}(?<sep>[:\-])[0-9A-Fa-f]{2}(?:\k<sep>[0-9A-Fa-f]{2}){4}|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![\w:\-]|\.\w)", RegexOptions.CultureInvariant)]
    private static partial Regex MacRegex();

    // ---------------------------------------------------------------- GUID
    private const string G = "(?:[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}|[0-9A-Fa-f]{32})";

    [GeneratedRegex(@"(?<![0-9A-Za-z\-{%])(?:\{" + G + @"\}|%7[Bb]" + G + "%7[Dd]|[Xx]'" + G + "'|[Uu][Rr][Nn]:[Uu][Uu][Ii][Dd]:" + G + "|" + G + @")(?![0-9A-Za-z\-])", Opts)]
    private static partial Regex GuidRegex();

    // ---------------------------------------------------------------- payment and bank
    [GeneratedRegex(@"(?<![\w\-.])(?:4\d{3}|5[0-5]\d{2}|2[2-7]\d{2}|6\d{3}|1\d{3}|3\d{3})[\- ]?\d{3,4}[\- ]?\d{3,4}[\- ]?\d{3,5}(?!\w|[\-.]\d)", Opts)]
    private static partial Regex CreditCardRegex();

    [GeneratedRegex(@"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?:[ \-]?[A-Z0-9]{4}){2,7}(?:[ \-]?[A-Z0-9]{1,3})?(?![A-Za-z0-9])", RegexOptions.CultureInvariant)]
    private static partial Regex IbanRegex();

    [GeneratedRegex(@"(?<![\w\-.])\d{8,17}(?!\w|[\-.]\d)", Opts)]
    private static partial Regex BankNumberRegex();

    [GeneratedRegex(@"(?<![\w\-.])[0123678]\d{3}-?\d{4}-?\d(?!\w|[\-.]\d)", Opts)]
    private static partial Regex AbaRegex();

    // ---------------------------------------------------------------- US identifiers
    [GeneratedRegex(@"(?<![\w\-.])\d{3}(?<sep>[\- .]?)\d{2}\k<sep>\d{4}(?!\w|[\-.]\d)", RegexOptions.CultureInvariant)]
    private static partial Regex SsnRegex();

    [GeneratedRegex(@"(?<![\w\-.])(?:[A-Z]\d{8}|\d{9})(?!\w|[\-.]\d)", Opts)]
    private static partial Regex PassportRegex();

    [GeneratedRegex(@"(?<![\w\-])(?:[A-Z]\d{3,14}|[A-Z]{2}\d{3,7}|\d{2}[A-Z]{3}\d{5,6}|[A-Z]\d{3}-\d{3}-\d{2,3}-\d{3}|[A-Z]\d{2}-\d{2}-\d{4})(?![\w\-])", Opts)]
    private static partial Regex DriverLicenseRegex();

    [GeneratedRegex(@"(?<![\w\-.])[12]\d{9}(?!\w|[\-.]\d)", Opts)]
    private static partial Regex NpiRegex();

    [GeneratedRegex(@"(?<![\w])[ABCDEFGHJKLMPRSTUXabcdefghjklmprstux][A-Za-z9]\d{7}(?!\w)", Opts)]
    private static partial Regex DeaRegex();

    // ---------------------------------------------------------------- UK
    [GeneratedRegex(@"(?<![\w\-.])\d{3}(?<sep>[\- ]?)\d{3}\k<sep>\d{4}(?!\w|[\-.]\d)", RegexOptions.CultureInvariant)]
    private static partial Regex NhsRegex();

    // ---------------------------------------------------------------- crypto
    [GeneratedRegex(@"(?<!\w)(?:(?:bc1|tb1|BC1)[a-zA-Z0-9]{11,71}|[13][a-km-zA-HJ-NP-Z1-9]{25,34})(?!\w)", Opts)]
    private static partial Regex CryptoRegex();

    // ---------------------------------------------------------------- dates
    private const string Month = @"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)";

    [GeneratedRegex(@"(?<![\w/.\-:])(?:\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?:[T ](?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d(?:\.\d+)?)?(?:Z|[+\-]\d{2}:?\d{2})?)?|\d{1,2}[/\-]\d{1,2}[/\-](?:\d{4}|\d{2})|\d{1,2}\.\d{1,2}\.\d{4}|\d{4}/\d{1,2}/\d{1,2}|" + Month + @"\.?\s\d{1,2}(?:st|nd|rd|th)?(?:,?\s\d{4})?|\d{1,2}(?:st|nd|rd|th)?\s(?:of\s)?" + Month + @"\.?,?(?:\s\d{4})?|" + Month + @"\.?,?\s\d{4})(?![\w/\-]|\.\d|:\d)", Opts)]
    private static partial Regex DateRegex();

    // ---------------------------------------------------------------- age
    [GeneratedRegex(@"(?<!\w)(?:aged?:?\s?\d{1,3}|\d{1,3}[\s\-]?(?:years?|yrs?)[\s\-]?old|\d{1,3}\s?(?:y/o|yo))(?!\w)", Opts | RegexOptions.IgnoreCase)]
    private static partial Regex AgeRegex();

    // ---------------------------------------------------------------- phone
    [GeneratedRegex(@"(?:(?<![\w+#%/.,\-*=$€£¥)])|(?<=[A-Za-z]{2}-)|(?<=[^\w\s\-]-)|(?<=[A-Za-z:])(?=[(+])|(?<=-)(?=\()|(?<=:))(?:\+ ?)?(?:\( ?\+?\d{1,5} ?\)|(?>\d+)\)?)(?:(?: ?[\-./] ?| )?(?:\( ?\+?\d{1,5} ?\)|(?>\d+)\)?)){0,8}(?: ?(?:[Ee][Xx][Tt]\.?|[xX]) ?\d{1,6})?(?![\w%@]|[.,:\-/]\d| ?[=*+])", Opts)]
    private static partial Regex PhoneRegex();

    // Necessary substrings for the pre-checks: every month-name date holds a capitalized month prefix (the date regex is
    // case-sensitive), every age holds one of these words (any case).
    private static readonly SearchValues<string> s_monthPrefixes = SearchValues.Create(["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"], StringComparison.Ordinal);
    private static readonly SearchValues<string> s_ageWords = SearchValues.Create(["age", "year", "yr", "yo", "y/o"], StringComparison.OrdinalIgnoreCase);
    private static readonly SearchValues<char> s_ageLetters = SearchValues.Create("gGyY");

    private static readonly string[] s_phoneContext = ["phone", "telephone", "tel", "mobile", "mob", "cell", "call", "fax", "dial", "whatsapp", "sms", "contact", "reach"];
    private static readonly string[] s_phoneNegative = ["account", "acct", "card", "credit", "invoice", "order", "po", "ref", "reference", "ticket", "case", "serial", "sku", "ssn", "omb", "id", "iban", "routing", "passport", "license", "licence", "npi", "nhs", "isbn", "zip", "postcode", "amount", "total", "usd", "eur"];

    /// <summary>Creates the default pattern set, in a fixed order.</summary>
    internal static PatternDefinition[] Create() =>
    [
        new() { EntityType = EntityTypes.EmailAddress, Name = "email", Regex = EmailRegex(), Score = 1.0, RequiredAll = WindowFlags.At, MinLength = 6, Validator = ValidateEmail, ContextWords = ["email", "mail", "e-mail", "contact"] },
        new() { EntityType = EntityTypes.Url, Name = "url", Regex = UrlRegex(), Score = 0.6, RequiredAny = WindowFlags.DotLetter | WindowFlags.ColonSlash, MinLength = 4, Precheck = static (window, in w) => (w.Flags & WindowFlags.ColonSlash) != 0 || WindowShapes.BareHost(window), Validator = ValidateUrl, ContextWords = ["url", "website", "link", "site", "visit", "http"] },
        new() { EntityType = EntityTypes.IpAddress, Name = "ipv4", Regex = Ipv4Regex(), Score = 0.6, MinDigits = 4, RequiredAll = WindowFlags.Dot | WindowFlags.DigitSeparator, MinDots = 3, MinLength = 7, ContextWords = ["ip", "address", "server", "host", "ipv4", "network", "gateway", "dns"] },
        new() { EntityType = EntityTypes.IpAddress, Name = "ipv6", Regex = Ipv6Regex(), Score = 0.6, RequiredAll = WindowFlags.Colon, MinColons = 2, MinLength = 2, Validator = ValidateIpv6, ContextWords = ["ip", "address", "server", "host", "ipv6", "network"] },
        new() { EntityType = EntityTypes.MacAddress, Name = "mac", Regex = MacRegex(), Score = 0.6, MinDigits = 1, RequiredAny = WindowFlags.Colon | WindowFlags.Hyphen | WindowFlags.Dot, MinLength = 14, MinHexRun = 2, Precheck = static (window, in w) => (w.Colons >= 5 || w.Hyphens >= 5 || w.Dots >= 2) && WindowShapes.MacAddress(window), ContextWords = ["mac", "ethernet", "hardware", "nic", "wifi", "adapter"] },
        new() { EntityType = EntityTypes.Guid, Name = "guid", Regex = GuidRegex(), Score = 0.9, MinDigits = 4, MinLength = 32, MinHexRun = 8, Validator = ValidateGuid, ContextWords = ["guid", "uuid", "id", "identifier"] },
        new() { EntityType = EntityTypes.CreditCard, Name = "credit_card", Regex = CreditCardRegex(), Score = 1.0, MinDigits = 12, MinDigitRun = 4, Precheck = static (window, in w) => WindowShapes.CreditCard(window, w), Validator = ValidateCreditCard, ContextWords = ["credit", "card", "visa", "mastercard", "amex", "discover", "jcb", "diners", "cc", "payment"] },
        new() { EntityType = EntityTypes.IbanCode, Name = "iban", Regex = IbanRegex(), Score = 1.0, MinDigits = 4, RequiredAll = WindowFlags.Upper | WindowFlags.UpperDigit, MinDigitRun = 2, MinLength = 15, Validator = static (string t, ref int s, ref int e, ref double sc) => Checksums.Iban(t.AsSpan(s, e - s)), ContextWords = ["iban", "bank", "account", "transfer", "wire"] },
        new() { EntityType = EntityTypes.UsSsn, Name = "ssn", Regex = SsnRegex(), Score = 0.5, MinDigits = 9, MinDigitRun = 3, Precheck = static (window, in w) => WindowShapes.Ssn(window, w), Validator = ValidateSsn, ContextWords = ["ssn", "social", "security", "ssns", "ssid", "ss#"] },
        new() { EntityType = EntityTypes.UsBankNumber, Name = "us_bank", Regex = BankNumberRegex(), Score = 0.05, MinDigits = 8, MinDigitRun = 8, Precheck = static (window, in w) => WindowShapes.BankNumber(window, w), ContextWords = ["bank", "account", "acct", "checking", "saving", "debit", "deposit"] },
        new() { EntityType = EntityTypes.AbaRoutingNumber, Name = "aba", Regex = AbaRegex(), Score = 0.15, MinDigits = 9, MinDigitRun = 4, Precheck = static (window, in w) => WindowShapes.Aba(window, w), Validator = ValidateAba, ContextWords = ["aba", "routing", "abarouting", "transit", "rtn", "bankrouting"] },
        new() { EntityType = EntityTypes.UsPassport, Name = "us_passport", Regex = PassportRegex(), Score = 0.05, MinDigits = 8, MinDigitRun = 8, Precheck = static (window, in w) => WindowShapes.Passport(window, w), ContextWords = ["passport", "travel", "document"] },
        new() { EntityType = EntityTypes.UsDriverLicense, Name = "us_driver_license", Regex = DriverLicenseRegex(), Score = 0.1, MinDigits = 3, RequiredAny = WindowFlags.Upper, RequiredAll = WindowFlags.UpperDigit, MinDigitRun = 2, ContextWords = ["driver", "license", "licence", "dl", "dmv", "driving", "permit"] },
        new() { EntityType = EntityTypes.UsNpi, Name = "us_npi", Regex = NpiRegex(), Score = 0.1, MinDigits = 10, MinDigitRun = 10, Precheck = static (window, in w) => WindowShapes.Npi(window, w), Validator = static (string t, ref int s, ref int e, ref double sc) => Checksums.Npi(t.AsSpan(s, e - s)), ContextWords = ["npi", "provider", "prescriber", "national"] },
        new() { EntityType = EntityTypes.MedicalLicense, Name = "dea", Regex = DeaRegex(), Score = 0.5, MinDigits = 7, MinDigitRun = 7, Precheck = static (window, in w) => WindowShapes.Dea(window, w), Validator = static (string t, ref int s, ref int e, ref double sc) => Checksums.Dea(t.AsSpan(s, e - s)), ContextWords = ["dea", "medical", "license", "licence", "registration", "prescriber"] },
        new() { EntityType = EntityTypes.UkNhs, Name = "uk_nhs", Regex = NhsRegex(), Score = 0.3, MinDigits = 10, MinDigitRun = 3, Precheck = static (window, in w) => WindowShapes.Nhs(window, w), Validator = static (string t, ref int s, ref int e, ref double sc) => Checksums.NhsMod11(t.AsSpan(s, e - s)), ContextWords = ["nhs", "health", "patient", "hospital", "national"] },
        new() { EntityType = EntityTypes.Crypto, Name = "crypto", Regex = CryptoRegex(), Score = 1.0, MinDigits = 1, MinLength = 26, MinAlnumRun = 14, Validator = static (string t, ref int s, ref int e, ref double sc) => Checksums.CryptoAddress(t.AsSpan(s, e - s)), ContextWords = ["wallet", "btc", "bitcoin", "crypto", "address"] },
        new() { EntityType = EntityTypes.DateTime, Name = "date", Regex = DateRegex(), Score = 0.6, MinDigits = 1, Precheck = static (window, in w) => ((w.Flags & WindowFlags.DigitSeparator) != 0 && WindowShapes.NumericDate(window, w)) || ((w.Flags & WindowFlags.Upper) != 0 && window.ContainsAny(s_monthPrefixes)), Validator = ValidateDate, ContextWords = ["born", "birth", "dob", "birthday", "date", "admitted", "discharged", "hired"], ContextBoost = 0.35 },
        new() { EntityType = EntityTypes.Age, Name = "age", Regex = AgeRegex(), Score = 0.6, MinDigits = 1, Precheck = static (window, in _) => window.IndexOfAny(s_ageLetters) >= 0 && window.ContainsAny(s_ageWords), ContextWords = ["age", "aged", "old"] },
        new() { EntityType = EntityTypes.PhoneNumber, Name = "phone", Regex = PhoneRegex(), Score = 0.4, MinDigits = 6, Precheck = static (window, in w) => WindowShapes.Phone(window, w), Validator = ValidatePhone },
    ];

    private static bool ValidateEmail(string text, ref int start, ref int end, ref double score)
    {
        ReadOnlySpan<char> v = text.AsSpan(start, end - start);
        if (v[^1] == ']')
        {
            return true;
        }

        int dot = v.LastIndexOf('.');
        if (!TopLevelDomains.IsKnown(v[(dot + 1)..]))
        {
            score = 0.5;
        }

        return true;
    }

    private static bool ValidateUrl(string text, ref int start, ref int end, ref double score)
    {
        ReadOnlySpan<char> all = text.AsSpan();
        ReadOnlySpan<char> v = all[start..end];
        bool hasScheme = v.Contains("://", StringComparison.Ordinal);
        bool www = !hasScheme && v.StartsWith("www.", StringComparison.OrdinalIgnoreCase);

        // Trim trailing punctuation that ends a sentence rather than the URL, and unbalanced closing brackets.
        while (end > start)
        {
            char last = text[end - 1];
            if (last is '.' or ',' or ';' or ':' or '!' or '?' or '\'' or '*')
            {
                end--;
                continue;
            }

            if (last == ')' && all[start..end].Count('(') < all[start..end].Count(')'))
            {
                end--;
                continue;
            }

            if (last == ']' && all[start..end].Count('[') < all[start..end].Count(']'))
            {
                end--;
                continue;
            }

            break;
        }

        v = all[start..end];
        int hostStart = hasScheme ? v.IndexOf("://", StringComparison.Ordinal) + 3 : 0;
        int hostEnd = v[hostStart..].IndexOfAny(":/?#") is int h and >= 0 ? hostStart + h : v.Length;
        ReadOnlySpan<char> host = v[hostStart..hostEnd];
        if (hostEnd == hostStart)
        {
            return false;
        }

        if (hasScheme && (host.Equals("localhost", StringComparison.OrdinalIgnoreCase) || char.IsAsciiDigit(host[^1])))
        {
            score = 0.9;
            return true;
        }

        int dot = host.LastIndexOf('.');
        if (dot < 0)
        {
            return false;
        }

        ReadOnlySpan<char> tld = host[(dot + 1)..];
        if (!TopLevelDomains.IsKnown(tld))
        {
            return false;
        }

        if (hasScheme || www)
        {
            score = 0.9;
            return true;
        }

        // A bare domain: not part of an e-mail address, not a file name, not a clock time such as 7.am.
        if (end < text.Length && text[end] == '@')
        {
            return false;
        }

        if (TopLevelDomains.IsLikelyFileExtension(tld))
        {
            return false;
        }

        if ((tld.Equals("am", StringComparison.OrdinalIgnoreCase) || tld.Equals("pm", StringComparison.OrdinalIgnoreCase))
            && dot <= 2 && int.TryParse(host[..dot], out int hour) && hour <= 12)
        {
            return false;
        }

        return true;
    }

    private static bool ValidateIpv6(string text, ref int start, ref int end, ref double score)
    {
        ReadOnlySpan<char> v = text.AsSpan(start, end - start);
        int colons = v.Count(':');
        if (colons < 7 && !v.Contains("::", StringComparison.Ordinal))
        {
            return false;
        }

        return IPAddress.TryParse(v, out IPAddress? address) && address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
    }

    private static bool ValidateGuid(string text, ref int start, ref int end, ref double score)
    {
        ReadOnlySpan<char> v = text.AsSpan(start, end - start);
        if (!v.Contains('-'))
        {
            // 32 bare hex digits: also an MD5 hash or a long number; wrapped forms are more certain.
            score = char.IsAsciiHexDigit(v[0]) ? 0.6 : 0.85;
        }

        return true;
    }

    private static bool ValidateCreditCard(string text, ref int start, ref int end, ref double score)
    {
        ReadOnlySpan<char> v = text.AsSpan(start, end - start);
        if (!Checksums.Luhn(v))
        {
            return false;
        }

        // Mixed separators ("4111-1111 1111") are unlikely card spellings.
        bool dash = v.Contains('-'), space = v.Contains(' ');
        return !(dash && space);
    }

    private static bool ValidateSsn(string text, ref int start, ref int end, ref double score)
    {
        ReadOnlySpan<char> v = text.AsSpan(start, end - start);
        if (!Checksums.SsnPlausible(v))
        {
            return false;
        }

        if (v.Length == 9)
        {
            score = 0.05;
        }

        return true;
    }

    private static bool ValidateAba(string text, ref int start, ref int end, ref double score)
    {
        ReadOnlySpan<char> v = text.AsSpan(start, end - start);
        if (!Checksums.AbaRouting(v))
        {
            return false;
        }

        if (v.Contains('-'))
        {
            score = 0.3;
        }

        return true;
    }

    private static bool ValidateDate(string text, ref int start, ref int end, ref double score)
    {
        ReadOnlySpan<char> v = text.AsSpan(start, end - start);
        if (!char.IsAsciiDigit(v[0]) || !char.IsAsciiDigit(v[^1]))
        {
            // Month-name forms: "March 3, 2024", "3 March 2024", "March 2024", "May 5": "May" alone with a number is weak.
            if (v.StartsWith("May ", StringComparison.Ordinal) && v.Length <= 6)
            {
                score = 0.4;
            }

            return true;
        }

        // Numeric forms: check day and month ranges in either order.
        Span<int> parts = stackalloc int[3];
        int n = 0, cur = 0, len = 0;
        Span<int> lengths = stackalloc int[3];
        foreach (char c in v)
        {
            if (char.IsAsciiDigit(c))
            {
                cur = (cur * 10) + (c - '0');
                len++;
            }
            else if (c is '/' or '-' or '.')
            {
                if (n == 3)
                {
                    return true;
                }

                lengths[n] = len;
                parts[n++] = cur;
                cur = 0;
                len = 0;
            }
            else
            {
                // ISO with time: validated by the regex.
                return true;
            }
        }

        if (n != 2)
        {
            return n > 2;
        }

        lengths[2] = len;
        parts[2] = cur;
        if (lengths[0] == 4)
        {
            return parts[1] is >= 1 and <= 12 && parts[2] is >= 1 and <= 31;
        }

        bool mdy = parts[0] is >= 1 and <= 12 && parts[1] is >= 1 and <= 31;
        bool dmy = parts[1] is >= 1 and <= 12 && parts[0] is >= 1 and <= 31;
        return mdy || dmy;
    }

    private static bool ValidatePhone(string text, ref int start, ref int end, ref double score)
    {
        ReadOnlySpan<char> all = text.AsSpan();

        // "19) 35831647": a closing parenthesis with no opening one, followed by a space, ends a previous token.
        int close = all[start..end].IndexOf(')');
        if (close > 0 && !all[start..(start + close)].Contains('('))
        {
            if (start + close + 1 < end && all[start + close + 1] == ' ')
            {
                start += close + 2;
            }
            else if (start > 0 && all[start - 1] == '(')
            {
                return false;
            }
        }

        // The next token is a pair of hex digits: a byte dump, not a number.
        if (end + 3 <= all.Length && all[end] == ' ' && char.IsAsciiHexDigit(all[end + 1]) && char.IsAsciiHexDigit(all[end + 2])
            && (end + 3 == all.Length || !char.IsAsciiLetterOrDigit(all[end + 3])) && (char.IsAsciiLetter(all[end + 1]) || char.IsAsciiLetter(all[end + 2])))
        {
            return false;
        }

        // Try the whole match, then shorter prefixes that end before a space, so trailing dates or numbers do not spoil it.
        int candidateEnd = end;
        while (true)
        {
            if (PhonePlausible(all, start, candidateEnd, out double s))
            {
                end = candidateEnd;
                score = s;
                break;
            }

            int space = all[start..candidateEnd].LastIndexOf(' ');
            if (space <= 0)
            {
                return false;
            }

            candidateEnd = start + space;
            while (candidateEnd > start && !char.IsAsciiDigit(all[candidateEnd - 1]) && all[candidateEnd - 1] != ')')
            {
                candidateEnd--;
            }

            if (candidateEnd <= start)
            {
                return false;
            }
        }

        // Context: the nearest of a phone word ("call", "tel") or an identifier word ("account", "card") decides.
        int positive = ContextWords.NearestBefore(all, start, s_phoneContext, 5);
        int negative = ContextWords.NearestBefore(all, start, s_phoneNegative, 4);
        if (negative >= 0 && (positive < 0 || negative < positive))
        {
            return false;
        }

        if (score < 0 && positive < 0)
        {
            return false;
        }

        score = Math.Abs(score);
        if (positive >= 0)
        {
            score = Math.Min(1.0, score + 0.35);
        }

        return true;
    }

    /// <summary>Checks a phone candidate's digit count and shape; a negative score means "only with a phone context word".</summary>
    private static bool PhonePlausible(ReadOnlySpan<char> all, int start, int end, out double score)
    {
        score = 0;
        ReadOnlySpan<char> v = all[start..end];
        int ext = v.IndexOfAny("xXeE");
        ReadOnlySpan<char> body = ext > 0 ? v[..ext].TrimEnd(' ') : v;
        if (ext > 0 && !char.IsAsciiDigit(v[^1]))
        {
            return false;
        }

        int digits = 0, groups = 0, dots = 0, slashes = 0, dashes = 0, spaces = 0, parens = 0;
        bool inDigits = false;
        Span<int> groupLengths = stackalloc int[16];
        foreach (char c in body)
        {
            if (char.IsAsciiDigit(c))
            {
                digits++;
                if (!inDigits)
                {
                    if (groups == groupLengths.Length)
                    {
                        return false;
                    }

                    groupLengths[groups++] = 0;
                    inDigits = true;
                }

                groupLengths[groups - 1]++;
                continue;
            }

            inDigits = false;
            switch (c)
            {
                case '.': dots++; break;
                case '/': slashes++; break;
                case '-': dashes++; break;
                case ' ': spaces++; break;
                case '(' or ')': parens++; break;
                default: break;
            }
        }

        bool plus = body[0] == '+' || body.StartsWith("(+", StringComparison.Ordinal);
        if (digits < 6 || digits > (plus ? 17 : 15))
        {
            return false;
        }

        bool formatted = groups > 1 || plus || parens > 0;

        // Shapes that are something else: dates, year ranges, SSNs, IPv4 addresses, decimals.
        if (groups == 3 && (dashes == 2 || slashes == 2 || dots == 2) && spaces == 0 && parens == 0 && !plus)
        {
            int a = groupLengths[0], b = groupLengths[1], c = groupLengths[2];
            if ((a <= 2 && b <= 2 && c is 2 or 4) || (a == 4 && b <= 2 && c <= 2))
            {
                return false;
            }

            if (a == 3 && b == 2 && c == 4 && dashes == 2)
            {
                return false;
            }
        }

        if (groups == 2 && ((slashes == 1 && groupLengths[0] <= 4 && groupLengths[1] <= 4) || dots == 1) && !plus && parens == 0)
        {
            return false;
        }

        if (groups == 2 && dashes == 1 && groupLengths[0] == 4 && groupLengths[1] == 4 && spaces == 0 && !plus)
        {
            return false;
        }

        if (groups == 4 && dots == 3 && groupLengths[0] <= 3 && groupLengths[1] <= 3 && groupLengths[2] <= 3 && groupLengths[3] <= 3)
        {
            return false;
        }

        if (dots == 1 && groups > 1)
        {
            return false;
        }

        if (plus && body[0] == '+' && groups > 2 && body.Length > 1 && body[1..].TrimStart("0123456789").StartsWith('-'))
        {
            // "+45-12-34-56-78": a country code joined by a dash to pairs of digits reads as an arithmetic or code string.
            bool pairs = true;
            for (int i = 1; i < groups; i++)
            {
                pairs &= groupLengths[i] == 2;
            }

            if (pairs)
            {
                return false;
            }
        }

        if (digits == 6)
        {
            // Six digits pass only as one group, or after a country code, and only with a phone word nearby.
            if (groups > 1 && !plus)
            {
                return false;
            }

            score = -0.4;
            return true;
        }

        score = formatted ? 0.4 : 0.3;
        return true;
    }
}
