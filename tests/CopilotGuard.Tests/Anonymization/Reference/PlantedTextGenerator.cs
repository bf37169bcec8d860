using System.Globalization;
using System.Text;
using CopilotGuard.Anonymization;

namespace CopilotGuard.Tests.Anonymization.Reference;

/// <summary>Generates prose with planted entities, near misses and awkward characters, for differential tests of the detectors.</summary>
internal sealed class PlantedTextGenerator(int seed)
{
    private static readonly string[] s_words =
    [
        "the", "quarterly", "review", "covered", "revenue", "and", "hiring", "plan", "for", "next", "two", "quarters", "please", "call",
        "contact", "phone", "account", "card", "ticket", "born", "aged", "years", "old", "yo", "in", "at", "from", "office", "server",
        "address", "iban", "bank", "routing", "passport", "license", "npi", "nhs", "wallet", "date", "of", "birth", "dob", "ssn", "visa",
        "mac", "guid", "uuid", "id", "url", "website", "email", "mail", "ext", "x", "tel", "fax", "mobile", "mar", "may", "june", "age",
        "yr", "y/o", "yrs", "café", "naïve", "straße", "O'Neil", "Doe's", "co-op", "e-mail", "Q3", "$1.2", "12%", "v2.0", "3.14", "a.m.",
        "7.am", "file.txt", "report.pdf", "x86-64", "A1", "B12", "Ave", "Street",
    ];

    private static readonly string[] s_capitalized =
    [
        "Jane", "Doe", "Robert", "Johnson", "Jane Doe", "Robert Johnson", "Ms. Doe", "J. Doe", "Doe, Jane", "Mr. Johnson", "jane doe",
        "JANE DOE", "Michael Turner", "Priya Patel", "Dr. Sarah Mitchell", "Seattle", "London", "New York", "Contoso Ltd", "Fabrikam",
        "University of Michigan", "March", "May", "Monday", "The", "Please", "Kevin", "Will", "221 Baker Street", "Jänë Döe", "Kelvin",
        "Jane Alice Doe", "Jane A. Doe", "Doe, J.", "Robert's", "Johnson's", "jane.doe", "robert,johnson", "michael. turner",
    ];

    private static readonly string[] s_separators = [" ", " ", " ", " ", ", ", ". ", "\n", "  ", "\t", " (", ") ", ": ", "; ", " - ", "/", "-", "\"", "'", " — "];

    private readonly Random _random = new(seed);

    /// <summary>Builds one text of roughly <paramref name="length"/> characters.</summary>
    public string Next(int length)
    {
        var sb = new StringBuilder(length + 64);
        while (sb.Length < length)
        {
            int kind = _random.Next(10);
            sb.Append(kind switch
            {
                < 4 => s_words[_random.Next(s_words.Length)],
                < 5 => s_capitalized[_random.Next(s_capitalized.Length)],
                < 9 => Entity(),
                _ => Noise(),
            });
            sb.Append(s_separators[_random.Next(s_separators.Length)]);
        }

        return sb.ToString();
    }

    private string Entity()
    {
        string value = _random.Next(24) switch
        {
            0 => $"{Pick("user", "jane.doe", "a", "x_y-z", "first.last+tag")}{_random.Next(100)}@{Pick("contoso.com", "mail.contoso.co.uk", "example.org", "host.invalidtld", "[10.0.0.1]", "contoso")}",
            1 => $"{Pick("https://", "http://", "ftp://", "www.", "", "HTTPS://")}{Pick("docs.contoso.com", "contoso.com", "localhost", "10.1.2.3", "example.io", "a-b.example.net")}{Pick("", "/kb/" + _random.Next(100000), ":8080/x?y=1#z", "/path(1)", ".", "/a.b/c)")}",
            2 => $"{_random.Next(300)}.{_random.Next(300)}.{_random.Next(300)}.{_random.Next(300)}",
            3 => Pick("2001:db8::1", "fe80::1%eth0", "::1", "2001:0db8:85a3:0000:0000:8a2e:0370:7334", "1:2:3", "12:30:45", "a::b::c"),
            4 => MacAddress(),
            5 => Guid(),
            6 => Digits(_random.Next(4) == 0 ? "4### #### #### ####" : "4###############", luhn: true),
            7 => Digits(Pick("5###-####-####-####", "3##############", "6011 #### #### ####", "####-####-####-####"), luhn: _random.Next(2) == 0),
            8 => Iban(),
            9 => Digits(Pick("###-##-####", "### ## ####", "#########", "###.##.####", "###-##.####")),
            10 => Digits(Pick("########", "#############", "#################", "####-####-#", "0##########")),
            11 => Pick("A", "Z", "q", "") + Digits(Pick("########", "###", "#######", "##-##-####", "###-###-##-###")),
            12 => Digits(Pick("1#########", "2#########", "##########")),
            13 => Pick("AB", "BX", "a9", "ZZ", "F") + Digits("#######"),
            14 => Digits(Pick("### ### ####", "###-###-####", "##########", "###-### ####")),
            15 => Crypto(),
            16 => Date(),
            17 => Pick("aged ", "age: ", "Age ", "") + _random.Next(120) + Pick(" years old", "-year-old", "yo", " y/o", " yrs old", "", " YEARS OLD"),
            18 => Phone(),
            19 => Phone(),
            20 => Unicode(),
            21 => Digits(Pick("#", "##", "###", "####", "#.#", "##:##", "#/#", "##-##", "#,###", "#.##.##")),
            22 => $"{Pick("Mar", "March", "Dec", "Sept", "May", "jan", "Jun")}{Pick(" ", ". ", "")}{_random.Next(40)}{Pick("", "th", ", " + _random.Next(1900, 2100), " " + _random.Next(2100))}",
            _ => Pick("x", "ext.", "ext", "#", "+", "(", ")", "%", "=", "*") + Digits(Pick("###", "######", "##")),
        };
        return value;
    }

    private string Noise()
    {
        const string chars = "0123456789@:./-_+()[]{}#%=*,;'\"abcXYZ \n\t€£¥٣４";
        var sb = new StringBuilder();
        int n = _random.Next(1, 12);
        for (int i = 0; i < n; i++)
        {
            sb.Append(chars[_random.Next(chars.Length)]);
        }

        return sb.ToString();
    }

    private string Unicode() => Pick("٤٢٥ ٥٥٥ ١٢٣٤", "４２５-５５５-１２３４", "192.١٦٨.1.1", "user@cöntoso.com", "http://exämple.com", "www.contoso.ſtore", "contoso.Kom", "١٢٣٤٥٦٧٨٩", "Ǆ1234567", "jane@contoso.ⅽom");

    private string MacAddress()
    {
        string sep = Pick(":", "-", ".", ":");
        if (sep == ".")
        {
            return $"{Hex(4)}.{Hex(4)}.{Hex(4)}";
        }

        int groups = _random.Next(4) == 0 ? 5 : 6;
        return string.Join(sep, Enumerable.Range(0, groups).Select(_ => Hex(2)));
    }

    private string Guid()
    {
        string g = $"{Hex(8)}-{Hex(4)}-{Hex(4)}-{Hex(4)}-{Hex(12)}";
        return _random.Next(6) switch
        {
            0 => "{" + g + "}",
            1 => "urn:uuid:" + g,
            2 => g.Replace("-", string.Empty, StringComparison.Ordinal),
            3 => g.ToUpperInvariant(),
            4 => "%7B" + g + "%7D",
            _ => g,
        };
    }

    private string Iban()
    {
        string country = Pick("GB", "DE", "NL", "FR", "NO", "ZZ");
        string bban = country switch
        {
            "GB" => "WEST" + Digits("##############"),
            "NL" => "ABNA" + Digits("##########"),
            "NO" => Digits("###########"),
            _ => Digits("##################"),
        };
        for (int check = 0; check < 100; check++)
        {
            string candidate = country + check.ToString("00", CultureInfo.InvariantCulture) + bban;
            if (Checksums.Iban(candidate))
            {
                return _random.Next(2) == 0 ? candidate : string.Join(' ', candidate.Chunk(4).Select(c => new string(c)));
            }
        }

        return country + "00" + bban;
    }

    private string Crypto()
    {
        const string base58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
        var sb = new StringBuilder(Pick("1", "3", "bc1", "BC1", "tb1"));
        int n = _random.Next(10, 40);
        for (int i = 0; i < n; i++)
        {
            sb.Append(base58[_random.Next(base58.Length)]);
        }

        return _random.Next(8) == 0 ? "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa" : sb.ToString();
    }

    private string Date() => _random.Next(8) switch
    {
        0 => $"{_random.Next(1900, 2100)}-{_random.Next(0, 14):00}-{_random.Next(0, 33):00}{Pick("", "T10:30", "T23:59:59Z", " 08:15:00+01:00")}",
        1 => $"{_random.Next(0, 40)}/{_random.Next(0, 40)}/{Pick("24", "2024", "1999", "5")}",
        2 => $"{_random.Next(0, 40)}.{_random.Next(0, 14)}.{_random.Next(1900, 2100)}",
        3 => $"{_random.Next(1900, 2100)}/{_random.Next(0, 14)}/{_random.Next(0, 33)}",
        4 => $"{Pick("March", "Mar.", "May", "June", "Sept", "September", "Dec")} {_random.Next(0, 40)}{Pick("", "st", "nd", "th")}{Pick("", ", 2024", " 1999")}",
        5 => $"{_random.Next(0, 40)}{Pick("", "th", "rd")} {Pick("of ", "")}{Pick("March", "Jan", "October", "Nov.")}{Pick("", " 2024", ", 2023")}",
        6 => $"{Pick("March", "Feb", "April")}{Pick(" ", ", ", ". ")}{_random.Next(1900, 2100)}",
        _ => $"{_random.Next(0, 40)}-{_random.Next(0, 40)}-{_random.Next(0, 100)}",
    };

    private string Phone() => _random.Next(10) switch
    {
        0 => $"+1 ({Digits("###")}) {Digits("###")}-{Digits("####")}",
        1 => $"({Digits("###")}) {Digits("###")}-{Digits("####")}{Pick("", " ext. 12", " x1234", " ext 9")}",
        2 => $"+44 20 {Digits("####")} {Digits("####")}",
        3 => $"{Digits("###")}.{Digits("###")}.{Digits("####")}",
        4 => $"+{Digits("##")}-{Digits("##")}-{Digits("##")}-{Digits("##")}-{Digits("##")}",
        5 => Digits(Pick("##########", "###-####", "######", "+## ### ### ###", "0## #### ####")),
        6 => $"{Pick("tel:", "Tel:", "call ", "phone ", "fax: ")}{Digits("###-###-####")}",
        7 => $"+{Digits("#")} {Digits("###")} {Digits("###")} {Digits("####")}",
        8 => $"{Digits("###")}/{Digits("###")}-{Digits("####")}",
        _ => $"{Digits("##")}) {Digits("########")}",
    };

    private string Digits(string shape, bool luhn = false)
    {
        char[] chars = shape.ToCharArray();
        for (int i = 0; i < chars.Length; i++)
        {
            if (chars[i] == '#')
            {
                chars[i] = (char)('0' + _random.Next(10));
            }
        }

        if (luhn)
        {
            int last = Array.FindLastIndex(chars, char.IsAsciiDigit);
            for (int d = 0; d < 10 && !Checksums.Luhn(chars); d++)
            {
                chars[last] = (char)('0' + d);
            }
        }

        return new string(chars);
    }

    private string Hex(int n)
    {
        const string hex = "0123456789abcdefABCDEF";
        var sb = new StringBuilder(n);
        for (int i = 0; i < n; i++)
        {
            sb.Append(hex[_random.Next(hex.Length)]);
        }

        return sb.ToString();
    }

    private string Pick(params string[] options) => options[_random.Next(options.Length)];
}
