using System.Collections.Concurrent;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace CopilotGuard.Server.Tests.Hosting;

/// <summary>A loopback HTTP endpoint that answers <c>POST /v1/embeddings</c> as the OpenAI embeddings API documents it,
/// with a deterministic vector per input text, and keeps every request it received.</summary>
public sealed class FakeOpenAIEmbeddings : IAsyncDisposable
{
    /// <summary>The vector size when a request names no dimensions.</summary>
    public const int DefaultDimensions = 16;

    private readonly WebApplication _app;

    private FakeOpenAIEmbeddings(WebApplication app) => _app = app;

    /// <summary>Gets the base address to configure as the endpoint (ends in <c>/v1</c>).</summary>
    public Uri Endpoint { get; private set; } = null!;

    /// <summary>Gets the requests received, in order.</summary>
    public ConcurrentQueue<EmbeddingsRequest> Requests { get; } = new();

    /// <summary>Gets how many texts were embedded in all.</summary>
    public int TextsEmbedded => Requests.Sum(static r => r.Inputs.Count);

    public static async Task<FakeOpenAIEmbeddings> StartAsync()
    {
        FakeOpenAIEmbeddings? fake = null;
        var (_, address) = await LoopbackApp.StartAsync(app =>
        {
            fake = new FakeOpenAIEmbeddings(app);
            app.MapPost("/v1/embeddings", fake.AnswerAsync);
        });
        fake!.Endpoint = new Uri(address + "/v1");
        return fake;
    }

    /// <summary>Gets the vector the fake returns for a text: unit length, from the text's SHA-256.</summary>
    public static float[] Vector(string text, int dimensions)
    {
        var seed = SHA256.HashData(Encoding.UTF8.GetBytes(text));
        var vector = new float[dimensions];
        for (var i = 0; i < dimensions; i++)
        {
            vector[i] = (seed[i % seed.Length] - 127.5f) * (i / seed.Length + 1);
        }

        var norm = MathF.Sqrt(vector.Sum(static v => v * v));
        return [.. vector.Select(v => v / norm)];
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task AnswerAsync(HttpContext context)
    {
        using var body = await JsonDocument.ParseAsync(context.Request.Body);
        var root = body.RootElement;
        var inputs = root.GetProperty("input").ValueKind == JsonValueKind.Array
            ? root.GetProperty("input").EnumerateArray().Select(static e => e.GetString()!).ToList()
            : [root.GetProperty("input").GetString()!];
        var request = new EmbeddingsRequest(
            context.Request.Path,
            context.Request.Headers.Authorization.ToString(),
            root.GetProperty("model").GetString()!,
            inputs,
            root.TryGetProperty("dimensions", out var d) ? d.GetInt32() : null,
            root.TryGetProperty("encoding_format", out var f) ? f.GetString() : null);
        Requests.Enqueue(request);

        context.Response.ContentType = "application/json";
        await using var writer = new Utf8JsonWriter(context.Response.Body);
        writer.WriteStartObject();
        writer.WriteString("object", "list");
        writer.WriteStartArray("data");
        for (var i = 0; i < inputs.Count; i++)
        {
            var vector = Vector(inputs[i], request.Dimensions ?? DefaultDimensions);
            writer.WriteStartObject();
            writer.WriteString("object", "embedding");
            writer.WriteNumber("index", i);
            if (request.EncodingFormat == "base64")
            {
                writer.WriteString("embedding", Convert.ToBase64String(MemoryMarshal.AsBytes(vector.AsSpan())));
            }
            else
            {
                writer.WriteStartArray("embedding");
                foreach (var value in vector)
                {
                    writer.WriteNumberValue(value);
                }

                writer.WriteEndArray();
            }

            writer.WriteEndObject();
        }

        writer.WriteEndArray();
        writer.WriteString("model", request.Model);
        writer.WriteStartObject("usage");
        writer.WriteNumber("prompt_tokens", inputs.Count);
        writer.WriteNumber("total_tokens", inputs.Count);
        writer.WriteEndObject();
        writer.WriteEndObject();
        await writer.FlushAsync();
    }

    /// <summary>One request as received.</summary>
    public sealed record EmbeddingsRequest(string Path, string Authorization, string Model, IReadOnlyList<string> Inputs, int? Dimensions, string? EncodingFormat);
}
