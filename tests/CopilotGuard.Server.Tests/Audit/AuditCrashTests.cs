using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using CopilotGuard.Connectors.Sqlite;

namespace CopilotGuard.Server.Tests.Audit;

/// <summary>Runs the real server in a child process, kills it with SIGKILL in the middle of a retrieval load, and checks the log.</summary>
/// <remarks>Starts from a copy of the shared fixture's seeded data folder (without its audit log), so it does not embed the corpus again.</remarks>
[Collection(ServerCollection.Name)]
public sealed class AuditCrashTests(ServerFixture server) : IDisposable
{
    private readonly string _data = Directory.CreateTempSubdirectory("copilotguard-crash-").FullName;

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_data, recursive: true);
    }

    [Fact]
    public async Task Server_KilledDuringLoad_EveryAcknowledgedReceiptIsInTheLogAndTheLogVerifies()
    {
        ChildProcess.CopySeededFolder(server.DataPath, _data);
        var token = server.Token("bob");

        var port = FreePort();
        var errors = new ConcurrentQueue<string>();
        using var child = ChildProcess.Start("CopilotGuard.Server", errors, "--data", _data, "--urls", $"http://127.0.0.1:{port}", "--Logging:LogLevel:Default=Warning", "--CopilotGuard:Identity:AllowDevelopmentIssuer=true");
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(30) };
        await WaitForHealthAsync(client, child, errors);

        var acknowledged = new ConcurrentBag<string>();
        using var killed = new CancellationTokenSource();
        const int killAfter = 40;
        var workers = Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
        {
            var queries = new[] { "POS terminal outage", "VPN setup", "password reset", "printer driver", "fabrikam invoice" };
            for (var i = 0; !killed.IsCancellationRequested; i++)
            {
                try
                {
                    using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/retrieve") { Content = JsonContent.Create(new { query = queries[(worker + i) % queries.Length], top = 3, destination = "internal" }) };
                    request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
                    using var response = await client.SendAsync(request);
                    if (response.StatusCode == HttpStatusCode.OK)
                    {
                        using var json = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
                        acknowledged.Add(json.RootElement.GetProperty("receiptId").GetString()!);
                        if (acknowledged.Count == killAfter)
                        {
                            child.Kill(); // SIGKILL on Unix: no shutdown, no final checkpoint, requests in flight.
                            await killed.CancelAsync();
                        }
                    }
                }
                catch (Exception exception) when (exception is HttpRequestException or TaskCanceledException or IOException or JsonException)
                {
                    if (child.HasExited)
                    {
                        return;
                    }
                }
            }
        })).ToArray();
        await Task.WhenAll(workers);
        await child.WaitForExitAsync();

        await using var signer = SignerHolder.Of(_data);
        await using var log = new SqliteAuditLog(Path.Combine(_data, "audit.db"), signer: signer.Signer);
        await log.InitializeAsync(CancellationToken.None);
        var verification = await log.VerifyAsync(CancellationToken.None);
        Assert.True(verification.Ok, verification.Problem);
        Assert.True(acknowledged.Count >= killAfter);
        foreach (var receipt in acknowledged)
        {
            Assert.NotNull(await log.GetAsync(receipt, CancellationToken.None));
        }

        Assert.True(verification.Records >= acknowledged.Count);
    }

    private static async Task WaitForHealthAsync(HttpClient client, Process child, ConcurrentQueue<string> errors)
    {
        for (var attempt = 0; attempt < 600; attempt++)
        {
            Assert.False(child.HasExited, "the server exited during start-up: " + string.Join('\n', errors.TakeLast(20)));
            try
            {
                using var response = await client.GetAsync("/healthz");
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        child.Kill();
        Assert.Fail("the server did not start within a minute");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
