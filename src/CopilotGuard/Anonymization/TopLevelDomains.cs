using System.Collections.Frozen;

namespace CopilotGuard.Anonymization;

/// <summary>Holds the top-level domains a URL or e-mail host may end with (generic and country-code).</summary>
/// <remarks>
/// Country codes are the ISO 3166 two-letter codes in the DNS root; generic names are the common ones.
/// A few country codes that are mostly seen as file extensions in business text (md, py, rs, sh, pl, so, ps, js)
/// are accepted after a scheme or <c>www.</c> only, never for a bare domain.
/// </remarks>
internal static class TopLevelDomains
{
    private static readonly FrozenSet<string> s_all = FrozenSet.Create(StringComparer.OrdinalIgnoreCase, [
        "academy", "aero", "agency", "app", "art", "asia", "aws", "bank", "biz", "blog", "bot", "buy", "cafe",
        "capital", "cat", "city", "cloud", "club", "college", "com", "company", "consulting", "coop", "design", "dev",
        "digital", "eco", "edu", "education", "email", "energy", "eu", "finance", "foundation", "game", "games",
        "global", "gmbh", "gov", "green", "group", "health", "info", "insurance", "int", "io", "jobs", "law", "legal",
        "limited", "live", "llc", "love", "ltd", "ltda", "map", "med", "media", "mil", "mobi", "museum", "name", "net",
        "network", "news", "ngo", "ong", "online", "org", "page", "partners", "phd", "place", "post", "pro", "radio",
        "school", "science", "search", "services", "shop", "shopping", "site", "software", "solutions", "space",
        "sport", "store", "studio", "systems", "team", "tech", "tel", "today", "tools", "travel", "tvs", "university",
        "ventures", "wiki", "work", "world", "xyz", "ac", "ad", "ae", "af", "ag", "ai", "al", "am", "an", "ao", "aq",
        "ar", "as", "at", "au", "aw", "ax", "az", "ba", "bb", "bd", "be", "bf", "bg", "bh", "bi", "bj", "bl", "bm",
        "bn", "bo", "bq", "br", "bs", "bt", "bv", "bw", "by", "bz", "ca", "cc", "cd", "cf", "cg", "ch", "ci", "ck",
        "cl", "cm", "cn", "co", "cr", "cu", "cv", "cw", "cx", "cy", "cz", "de", "dj", "dk", "dm", "do", "dz", "ec",
        "ee", "eg", "eh", "er", "es", "et", "eu", "fi", "fj", "fk", "fm", "fo", "fr", "ga", "gb", "gd", "ge", "gf",
        "gg", "gh", "gi", "gl", "gm", "gn", "gp", "gq", "gr", "gs", "gt", "gu", "gw", "gy", "hk", "hm", "hn", "hr",
        "ht", "hu", "id", "ie", "il", "im", "in", "io", "iq", "ir", "is", "it", "je", "jm", "jo", "jp", "ke", "kg",
        "kh", "ki", "km", "kn", "kp", "kr", "kw", "ky", "kz", "la", "lb", "lc", "li", "lk", "lr", "ls", "lt", "lu",
        "lv", "ly", "ma", "mc", "md", "me", "mf", "mg", "mh", "mk", "ml", "mm", "mn", "mo", "mp", "mq", "mr", "ms",
        "mt", "mu", "mv", "mw", "mx", "my", "mz", "na", "nc", "ne", "nf", "ng", "ni", "nl", "no", "np", "nr", "nu",
        "nz", "om", "pa", "pe", "pf", "pg", "ph", "pk", "pl", "pm", "pn", "pr", "ps", "pt", "pw", "py", "qa", "re",
        "ro", "rs", "ru", "rw", "sa", "sb", "sc", "sd", "se", "sg", "sh", "si", "sj", "sk", "sl", "sm", "sn", "so",
        "sr", "ss", "st", "su", "sv", "sx", "sy", "sz", "tc", "td", "tf", "tg", "th", "tj", "tk", "tl", "tm", "tn",
        "to", "tp", "tr", "tt", "tv", "tw", "tz", "ua", "ug", "uk", "um", "us", "uy", "uz", "va", "vc", "ve", "vg",
        "vi", "vn", "vu", "wf", "ws", "ye", "yt", "za", "zm", "zw",
    ]);

    private static readonly FrozenSet<string> s_fileExtensions = FrozenSet.Create(StringComparer.OrdinalIgnoreCase, ["md", "py", "rs", "sh", "pl", "so", "ps", "js", "cs", "ts"]);

    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_lookup = s_all.GetAlternateLookup<ReadOnlySpan<char>>();
    private static readonly FrozenSet<string>.AlternateLookup<ReadOnlySpan<char>> s_extLookup = s_fileExtensions.GetAlternateLookup<ReadOnlySpan<char>>();

    /// <summary>Returns whether <paramref name="tld"/> (without the dot) is a known top-level domain.</summary>
    internal static bool IsKnown(ReadOnlySpan<char> tld) => s_lookup.Contains(tld);

    /// <summary>Returns whether <paramref name="tld"/> is a country code that is usually a file extension in prose.</summary>
    internal static bool IsLikelyFileExtension(ReadOnlySpan<char> tld) => s_extLookup.Contains(tld);
}
