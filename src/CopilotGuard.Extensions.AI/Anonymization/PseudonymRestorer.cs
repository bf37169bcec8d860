using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using CopilotGuard.Client;

namespace CopilotGuard.Extensions.AI;

/// <summary>Restores the pseudonyms of one answer through <c>POST /v1/deanonymize</c>, so the server decides for the caller and audits it.</summary>
/// <remarks>Once the server refuses (403) or does not offer the route (404, 405), no further call is made and the text stays as it is.
/// One instance serves one answer; it is not thread-safe.</remarks>
internal sealed partial class PseudonymRestorer(CopilotGuardClient client, string conversationId, bool enabled)
{
    /// <summary>The longest pseudonym the streaming buffer waits for before giving text through unchanged.</summary>
    private const int MaxPseudonymLength = 64;

    private readonly Dictionary<string, string> _restored = new(StringComparer.Ordinal);
    private readonly StringBuilder _pending = new();
    private bool _sawPseudonym;

    public CopilotGuardDeanonymization Outcome => !enabled
        ? CopilotGuardDeanonymization.Disabled
        : _stopped ?? (!_sawPseudonym ? CopilotGuardDeanonymization.NoPseudonyms : RestoredCount > 0 ? CopilotGuardDeanonymization.Restored : CopilotGuardDeanonymization.NoneRestored);

    public int RestoredCount { get; private set; }

    private CopilotGuardDeanonymization? _stopped;

    /// <summary>Restores a whole text with one server call when it holds pseudonyms.</summary>
    public async Task<string> RestoreAsync(string text, CancellationToken cancellationToken)
    {
        if (!PseudonymPattern().IsMatch(text))
        {
            return text;
        }

        _sawPseudonym = true;
        if (!enabled || _stopped is not null)
        {
            return text;
        }

        var result = await CallAsync(text, cancellationToken).ConfigureAwait(false);
        if (result is null)
        {
            return text;
        }

        RestoredCount += result.Restored;
        return result.Text;
    }

    /// <summary>Takes the next streamed piece of text and returns what can be given to the reader now, holding back a pseudonym that is not complete yet.</summary>
    public async Task<string> PushAsync(string piece, CancellationToken cancellationToken)
    {
        if ((!enabled || _stopped is not null) && _pending.Length == 0)
        {
            // Nothing will be restored: give the text through at once.
            _sawPseudonym |= PseudonymPattern().IsMatch(piece);
            return piece;
        }

        _pending.Append(piece);
        var buffered = _pending.ToString();
        var cut = HoldBackFrom(buffered);
        _pending.Clear().Append(buffered, cut, buffered.Length - cut);
        return await RestoreEachAsync(buffered[..cut], cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Returns whatever is still held back, once the stream has ended.</summary>
    public Task<string> FlushAsync(CancellationToken cancellationToken)
    {
        var rest = _pending.ToString();
        _pending.Clear();
        return RestoreEachAsync(rest, cancellationToken);
    }

    private async Task<string> RestoreEachAsync(string text, CancellationToken cancellationToken)
    {
        var matches = PseudonymPattern().Matches(text);
        if (matches.Count == 0)
        {
            return text;
        }

        _sawPseudonym = true;
        if (!enabled || _stopped is not null)
        {
            return text;
        }

        foreach (var pseudonym in matches.Select(static m => m.Value).Distinct(StringComparer.Ordinal))
        {
            if (_restored.ContainsKey(pseudonym))
            {
                continue;
            }

            var result = await CallAsync(pseudonym, cancellationToken).ConfigureAwait(false);
            if (result is null)
            {
                return text;
            }

            _restored[pseudonym] = result.Text;
        }

        return PseudonymPattern().Replace(text, match =>
        {
            var value = _restored[match.Value];
            if (!string.Equals(value, match.Value, StringComparison.Ordinal))
            {
                RestoredCount++;
            }

            return value;
        });
    }

    private async Task<DeanonymizeResponse?> CallAsync(string text, CancellationToken cancellationToken)
    {
        try
        {
            return await client.DeanonymizeAsync(new DeanonymizeRequest(conversationId, text), cancellationToken).ConfigureAwait(false);
        }
        catch (CopilotGuardApiException exception) when (exception.StatusCode == HttpStatusCode.Forbidden)
        {
            _stopped = CopilotGuardDeanonymization.Denied;
            return null;
        }
        catch (CopilotGuardApiException exception) when (exception.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.MethodNotAllowed)
        {
            _stopped = CopilotGuardDeanonymization.Unavailable;
            return null;
        }
    }

    /// <summary>Returns where the trailing text that could still become a pseudonym starts (the text's length when none).</summary>
    private static int HoldBackFrom(string text)
    {
        var start = text.LastIndexOf('<');
        if (start < 0 || text.Length - start > MaxPseudonymLength)
        {
            return text.Length;
        }

        return PartialPseudonymPattern().IsMatch(text.AsSpan(start)) ? start : text.Length;
    }

    [GeneratedRegex(@"<[A-Z][A-Z_]*_\d+>", RegexOptions.CultureInvariant)]
    internal static partial Regex PseudonymPattern();

    [GeneratedRegex(@"^<(?:[A-Z][A-Z_]*(?:\d+)?)?$", RegexOptions.CultureInvariant)]
    private static partial Regex PartialPseudonymPattern();
}
