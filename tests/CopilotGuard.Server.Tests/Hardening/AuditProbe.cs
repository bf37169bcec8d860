using System.Net.Http.Headers;
using System.Text;
using CopilotGuard.Audit;

namespace CopilotGuard.Server.Tests.Hardening;

/// <summary>Reads the records a request appended: everything after a mark, with each record's stored size.</summary>
internal sealed class AuditProbe(StoreServerFixture server)
{
    private long _last;

    /// <summary>Returns the last sequence in the log (reading on from the previous mark, so repeated marks stay cheap).</summary>
    public async Task<long> MarkAsync()
    {
        await foreach (var entry in server.Runtime.Audit.ReadAsync(_last, CancellationToken.None))
        {
            _last = entry.Sequence;
        }

        return _last;
    }

    public async Task<List<(AuditRecord Record, int Bytes)>> SinceAsync(long mark)
    {
        var records = new List<(AuditRecord, int)>();
        await foreach (var entry in server.Runtime.Audit.ReadAsync(mark, CancellationToken.None))
        {
            records.Add((AuditJson.Deserialize(entry.Payload.Span), entry.Payload.Length));
        }

        return records;
    }

    /// <summary>Sends a request and returns its status, body and the records it appended.</summary>
    public async Task<(int Status, string Body, List<(AuditRecord Record, int Bytes)> Records)> SendAsync(HttpRequestMessage request)
    {
        var mark = await MarkAsync();
        using var response = await server.Client.SendAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, body, await SinceAsync(mark));
    }

    public static HttpRequestMessage Request(HttpMethod method, string path, string? token, string? json = null)
    {
        var request = new HttpRequestMessage(method, path);
        if (json is not null)
        {
            request.Content = new StringContent(json, Encoding.UTF8, "application/json");
        }

        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return request;
    }
}
