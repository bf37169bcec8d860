using System.Text.Json;
using CopilotGuard.Hosting;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace CopilotGuard.Server.Tests;

/// <summary>The server's exception handler (the one <see cref="CopilotGuardServer"/> registers) on a capability the
/// configured store lacks: a 501 problem that names it, not an opaque 500.</summary>
/// <remarks>Every shipped store now implements the optional store members, so no route of a stock server throws
/// <see cref="NotSupportedException"/>; the handler is exercised directly, through its public interface.</remarks>
public sealed class ProblemNotSupportedTests
{
    [Fact]
    public async Task NotSupported_IsA501ProblemWhoseDetailIsTheMessage()
    {
        const string message = "The azure-ai-search store cannot change labels in place.";

        var (status, problem) = await HandleAsync(new NotSupportedException(message));

        Assert.Equal(StatusCodes.Status501NotImplemented, status);
        Assert.Equal(501, problem.GetProperty("status").GetInt32());
        Assert.Equal(message, problem.GetProperty("detail").GetString());
        Assert.Equal("Not supported by this deployment", problem.GetProperty("title").GetString());
    }

    [Fact]
    public async Task OtherFailures_StayAn500WithoutTheirMessage()
    {
        var (status, problem) = await HandleAsync(new InvalidOperationException("connection string Password=hunter2"));

        Assert.Equal(StatusCodes.Status500InternalServerError, status);
        Assert.DoesNotContain("hunter2", problem.GetRawText(), StringComparison.Ordinal);
    }

    private static async Task<(int Status, JsonElement Problem)> HandleAsync(Exception exception)
    {
        var services = new ServiceCollection().AddLogging().AddProblemDetails();
        var handlerType = typeof(CopilotGuardServer).Assembly.GetType("CopilotGuard.Hosting.ProblemExceptionHandler", throwOnError: true)!;
        services.AddSingleton(typeof(IExceptionHandler), handlerType);
        await using var provider = services.BuildServiceProvider();
        var handler = provider.GetRequiredService<IExceptionHandler>();
        var context = new DefaultHttpContext { RequestServices = provider };
        context.Request.Path = "/v1/documents/doc/label";
        using var body = new MemoryStream();
        context.Response.Body = body;

        Assert.True(await handler.TryHandleAsync(context, exception, CancellationToken.None));

        using var json = JsonDocument.Parse(body.ToArray());
        return (context.Response.StatusCode, json.RootElement.Clone());
    }
}
