namespace CopilotGuard.Anonymization;

/// <summary>Names the entity types the built-in recognizers report; the names follow Microsoft Presidio's.</summary>
public static class EntityTypes
{
    /// <summary>An e-mail address.</summary>
    public const string EmailAddress = "EMAIL_ADDRESS";
    /// <summary>A telephone number, national or international, with an optional extension.</summary>
    public const string PhoneNumber = "PHONE_NUMBER";
    /// <summary>A payment card number that passes the Luhn check.</summary>
    public const string CreditCard = "CREDIT_CARD";
    /// <summary>An IBAN with a valid per-country length and mod-97 check digits.</summary>
    public const string IbanCode = "IBAN_CODE";
    /// <summary>A US social security number that passes Presidio's invalidation rules.</summary>
    public const string UsSsn = "US_SSN";
    /// <summary>An IPv4 or IPv6 address.</summary>
    public const string IpAddress = "IP_ADDRESS";
    /// <summary>A URL, with or without a scheme.</summary>
    public const string Url = "URL";
    /// <summary>A MAC (EUI-48) address.</summary>
    public const string MacAddress = "MAC_ADDRESS";
    /// <summary>A crypto-currency wallet address (Bitcoin Base58Check or Bech32).</summary>
    public const string Crypto = "CRYPTO";
    /// <summary>A US bank account number (low confidence unless context words surround it).</summary>
    public const string UsBankNumber = "US_BANK_NUMBER";
    /// <summary>An ABA routing transit number with a valid weighted mod-10 check digit.</summary>
    public const string AbaRoutingNumber = "ABA_ROUTING_NUMBER";
    /// <summary>A US passport number (low confidence unless context words surround it).</summary>
    public const string UsPassport = "US_PASSPORT";
    /// <summary>A US driver license number (low confidence unless context words surround it).</summary>
    public const string UsDriverLicense = "US_DRIVER_LICENSE";
    /// <summary>A UK National Health Service number with a valid mod-11 check digit.</summary>
    public const string UkNhs = "UK_NHS";
    /// <summary>A medical license; the built-in recognizer finds US DEA registration numbers with a valid checksum.</summary>
    public const string MedicalLicense = "MEDICAL_LICENSE";
    /// <summary>A US National Provider Identifier (Luhn over the 80840 prefix).</summary>
    public const string UsNpi = "US_NPI";
    /// <summary>A calendar date (numeric, ISO 8601 or with a month name), optionally with a time.</summary>
    public const string DateTime = "DATE_TIME";
    /// <summary>A GUID / UUID in any of its usual spellings. Presidio has no such type; CopilotGuard names it GUID.</summary>
    public const string Guid = "GUID";
    /// <summary>An age in years ("42 years old", "aged 42"). Presidio has no such type; CopilotGuard names it AGE.</summary>
    public const string Age = "AGE";
    /// <summary>The name of a person.</summary>
    public const string Person = "PERSON";
    /// <summary>A place: country, state, city or street address.</summary>
    public const string Location = "LOCATION";
    /// <summary>A nationality, religious or political group (Presidio's NRP).</summary>
    public const string Nrp = "NRP";
    /// <summary>A job title or honorific. Presidio's analyzer has no such type; Presidio-research's data sets name it TITLE.</summary>
    public const string Title = "TITLE";
    /// <summary>A postal code. Presidio's analyzer has no such type; Presidio-research's data sets name it ZIP_CODE.</summary>
    public const string ZipCode = "ZIP_CODE";
    /// <summary>The name of a company or other organization.</summary>
    public const string Organization = "ORGANIZATION";
}
