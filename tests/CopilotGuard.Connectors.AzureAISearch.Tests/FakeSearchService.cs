using System.Net;
using System.Numerics.Tensors;
using System.Text;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Azure;
using Azure.Core.Pipeline;
using Azure.Search.Documents;
using Azure.Search.Documents.Indexes;

namespace CopilotGuard.Connectors.AzureAISearch.Tests;

/// <summary>One request the SDK sent.</summary>
public sealed record RecordedRequest(string Method, string PathAndQuery, string? Body)
{
    public JsonObject Json => JsonNode.Parse(Body!)!.AsObject();
}

/// <summary>Stands in for an Azure AI Search service behind the SDK's HTTP pipeline transport: records every request
/// and answers with responses shaped as the REST API (2023-11-01) documents them.</summary>
/// <remarks>Filters are evaluated by <see cref="ODataEvaluator"/>, vector queries exhaustively with the service's
/// cosine score <c>1 / (2 - cos)</c>, keyword queries by term counts over the searched fields, and hybrid queries by
/// reciprocal rank fusion of both.</remarks>
public sealed partial class FakeSearchService : HttpMessageHandler
{
    private readonly Dictionary<string, JsonObject> _indexes = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Dictionary<string, JsonObject>> _documents = new(StringComparer.Ordinal);
    private readonly Lock _lock = new();

    public List<RecordedRequest> Requests { get; } = [];

    /// <summary>Gets or sets whether search requests are answered from the stored documents (otherwise with no results).</summary>
    public bool EvaluateSearches { get; set; } = true;

    public static Uri Endpoint { get; } = new("https://fake-search.search.windows.net");

    /// <summary>Puts an index definition in place, as if created earlier by someone else.</summary>
    public void SeedIndex(JsonObject definition)
    {
        var name = definition["name"]!.GetValue<string>();
        _indexes[name] = definition;
        _documents[name] = new(StringComparer.Ordinal);
    }

    /// <summary>Creates an index client whose transport is this fake.</summary>
    public SearchIndexClient CreateIndexClient()
    {
        var options = new SearchClientOptions { Transport = new HttpClientTransport(new HttpClient(this, disposeHandler: false)) };
        options.Retry.MaxRetries = 0;
        return new SearchIndexClient(Endpoint, new AzureKeyCredential("fake-key"), options);
    }

    public IReadOnlyList<RecordedRequest> RequestsTo(string pathFragment) =>
        [.. Requests.Where(r => r.PathAndQuery.Contains(pathFragment, StringComparison.Ordinal))];

    protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        var body = request.Content is null ? null : await request.Content.ReadAsStringAsync(cancellationToken);
        var path = Uri.UnescapeDataString(request.RequestUri!.AbsolutePath);
        lock (_lock)
        {
            Requests.Add(new RecordedRequest(request.Method.Method, request.RequestUri.PathAndQuery, body));
            return Handle(request.Method.Method, path, request.RequestUri.Query, body);
        }
    }

    private HttpResponseMessage Handle(string method, string path, string query, string? body)
    {
        if (method == "POST" && path == "/indexes")
        {
            var index = JsonNode.Parse(body!)!.AsObject();
            var name = index["name"]!.GetValue<string>();
            _indexes[name] = index;
            _documents[name] = new(StringComparer.Ordinal);
            return Json(HttpStatusCode.Created, index.ToJsonString());
        }

        var match = IndexPath().Match(path);
        if (!match.Success)
        {
            return Error(HttpStatusCode.BadRequest, $"Unexpected path {path}");
        }

        var indexName = match.Groups["index"].Value;
        var rest = match.Groups["rest"].Value;
        if (!_indexes.TryGetValue(indexName, out var definition))
        {
            return Error(HttpStatusCode.NotFound, $"No index with the name '{indexName}' was found in the service 'fake-search'.");
        }

        var documents = _documents[indexName];
        return (method, rest) switch
        {
            ("GET", "") => Json(HttpStatusCode.OK, definition.ToJsonString()),
            ("POST", "/docs/search.index") => Index(documents, body!),
            ("POST", "/docs/search.post.search") => Search(documents, JsonNode.Parse(body!)!.AsObject()),
            ("GET", "/docs/$count") => new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent(documents.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), Encoding.UTF8, "text/plain") },
            ("GET", var doc) when DocumentPath().Match(doc) is { Success: true } m => Get(documents, m.Groups["key"].Value.Replace("''", "'", StringComparison.Ordinal), query),
            _ => Error(HttpStatusCode.BadRequest, $"Unexpected {method} {path}"),
        };
    }

    private static HttpResponseMessage Index(Dictionary<string, JsonObject> documents, string body)
    {
        var results = new JsonArray();
        foreach (var item in JsonNode.Parse(body)!["value"]!.AsArray())
        {
            var document = item!.AsObject().DeepClone().AsObject();
            var action = document["@search.action"]!.GetValue<string>();
            document.Remove("@search.action");
            var key = document["key"]!.GetValue<string>();
            if (action == "merge")
            {
                // Merge updates the given fields of an existing document and fails for a missing one.
                if (!documents.TryGetValue(key, out var existing))
                {
                    results.Add(new JsonObject { ["key"] = key, ["status"] = false, ["errorMessage"] = "Document not found.", ["statusCode"] = 404 });
                    continue;
                }

                foreach (var (name, value) in document)
                {
                    existing[name] = value?.DeepClone();
                }

                results.Add(new JsonObject { ["key"] = key, ["status"] = true, ["errorMessage"] = null, ["statusCode"] = 200 });
                continue;
            }

            if (action != "upload")
            {
                return Error(HttpStatusCode.BadRequest, $"Unexpected action {action}");
            }

            var created = !documents.ContainsKey(key);
            documents[key] = document;
            results.Add(new JsonObject { ["key"] = key, ["status"] = true, ["errorMessage"] = null, ["statusCode"] = created ? 201 : 200 });
        }

        return Json(HttpStatusCode.OK, new JsonObject { ["value"] = results }.ToJsonString());
    }

    private HttpResponseMessage Search(Dictionary<string, JsonObject> documents, JsonObject request)
    {
        var results = new JsonArray();
        if (!EvaluateSearches)
        {
            return Json(HttpStatusCode.OK, new JsonObject { ["value"] = results }.ToJsonString());
        }

        var filter = request["filter"]?.GetValue<string>();
        var searchText = request["search"]?.GetValue<string>();
        var vectorQuery = request["vectorQueries"]?[0]?.AsObject();
        var top = request["top"]?.GetValue<int>() ?? 50;
        var skip = request["skip"]?.GetValue<int>() ?? 0;
        var select = request["select"]?.GetValue<string>().Split(',');
        var searchFields = request["searchFields"]?.GetValue<string>().Split(',') ?? ["title", "text"];
        // Pre-filtering: the filter restricts both the text and the vector part.
        var candidates = documents.Values.Where(document => filter is null || ODataEvaluator.Evaluate(filter, document)).ToList();
        var keyword = searchText is null ? null : KeywordRanking(candidates, searchText, searchFields);
        var vector = vectorQuery is null ? null : VectorRanking(candidates, vectorQuery);
        var ranked = (keyword, vector) switch
        {
            ({ } text, null) => text,
            (null, { } nearest) => nearest,
            ({ } text, { } nearest) => ReciprocalRankFusion(text, nearest),

            // No search text and no vector query matches every document that passes the filter, all scored 1.
            _ => [.. candidates.Select(static document => (Document: document, Score: 1.0)).OrderBy(static hit => hit.Document["key"]!.GetValue<string>(), StringComparer.Ordinal)],
        };
        foreach (var (document, score) in ranked.Skip(skip).Take(top))
        {
            var result = new JsonObject { ["@search.score"] = score };
            foreach (var (name, value) in document)
            {
                if (select is null || select.Contains(name))
                {
                    result[name] = value?.DeepClone();
                }
            }

            results.Add(result);
        }

        return Json(HttpStatusCode.OK, new JsonObject { ["value"] = results }.ToJsonString());
    }

    /// <summary>Ranks by the service's cosine score <c>1 / (2 - cos)</c>, keeping the k nearest.</summary>
    private static List<(JsonObject Document, double Score)> VectorRanking(List<JsonObject> candidates, JsonObject vectorQuery)
    {
        var vector = vectorQuery["vector"]!.AsArray().Select(static v => v!.GetValue<float>()).ToArray();
        var k = vectorQuery["k"]!.GetValue<int>();
        return [.. candidates
            .Select(document =>
            {
                var embedding = document["embedding"]!.AsArray().Select(static v => v!.GetValue<float>()).ToArray();
                var cosine = TensorPrimitives.CosineSimilarity(vector, embedding);
                return (Document: document, Score: 1 / (2 - (double)cosine));
            })
            .OrderByDescending(static hit => hit.Score)
            .ThenBy(static hit => hit.Document["key"]!.GetValue<string>(), StringComparer.Ordinal)
            .Take(k)];
    }

    /// <summary>Ranks documents that contain any query term (simple syntax, <c>searchMode: any</c>) by how often the
    /// terms occur in the searched fields; operators and punctuation only separate terms, as in the simple syntax.</summary>
    private static List<(JsonObject Document, double Score)> KeywordRanking(List<JsonObject> candidates, string searchText, string[] searchFields)
    {
        var terms = Terms(searchText).ToHashSet(StringComparer.Ordinal);
        return [.. candidates
            .Select(document => (Document: document, Score: (double)searchFields
                .SelectMany(field => Terms(document[field]?.GetValue<string>() ?? string.Empty))
                .Count(terms.Contains)))
            .Where(static hit => hit.Score > 0)
            .OrderByDescending(static hit => hit.Score)
            .ThenBy(static hit => hit.Document["key"]!.GetValue<string>(), StringComparer.Ordinal)];
    }

    /// <summary>Fuses two rankings as the service documents for hybrid queries: the sum of <c>1 / (60 + rank)</c>.</summary>
    private static List<(JsonObject Document, double Score)> ReciprocalRankFusion(List<(JsonObject Document, double Score)> first, List<(JsonObject Document, double Score)> second)
    {
        var fused = new Dictionary<JsonObject, double>(ReferenceEqualityComparer.Instance);
        foreach (var ranking in (List<(JsonObject Document, double Score)>[])[first, second])
        {
            for (var rank = 0; rank < ranking.Count; rank++)
            {
                fused[ranking[rank].Document] = fused.GetValueOrDefault(ranking[rank].Document) + (1.0 / (60 + rank + 1));
            }
        }

        return [.. fused
            .Select(static pair => (Document: pair.Key, Score: pair.Value))
            .OrderByDescending(static hit => hit.Score)
            .ThenBy(static hit => hit.Document["key"]!.GetValue<string>(), StringComparer.Ordinal)];
    }

    private static IEnumerable<string> Terms(string text) => Word().Matches(text).Select(static m => m.Value.ToLowerInvariant());

    private static HttpResponseMessage Get(Dictionary<string, JsonObject> documents, string key, string query)
    {
        if (!documents.TryGetValue(key, out var document))
        {
            return Error(HttpStatusCode.NotFound, "Document not found.");
        }

        var select = System.Web.HttpUtility.ParseQueryString(query)["$select"]?.Split(',');
        var result = new JsonObject();
        foreach (var (name, value) in document)
        {
            if (select is null || select.Contains(name))
            {
                result[name] = value?.DeepClone();
            }
        }

        return Json(HttpStatusCode.OK, result.ToJsonString());
    }

    private static HttpResponseMessage Json(HttpStatusCode status, string json) =>
        new(status) { Content = new StringContent(json, Encoding.UTF8, "application/json") };

    private static HttpResponseMessage Error(HttpStatusCode status, string message) =>
        Json(status, new JsonObject { ["error"] = new JsonObject { ["code"] = status.ToString(), ["message"] = message } }.ToJsonString());

    [GeneratedRegex(@"^/indexes\('(?<index>[^']+)'\)(?<rest>.*)$")]
    private static partial Regex IndexPath();

    [GeneratedRegex(@"^/docs\('(?<key>.*)'\)$")]
    private static partial Regex DocumentPath();

    [GeneratedRegex(@"\w+")]
    private static partial Regex Word();
}
