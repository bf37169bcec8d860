using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace CopilotGuard.Server.Tests.Hosting;

/// <summary>A server executable from the test's output folder running in a child process.</summary>
internal sealed class ChildServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private ChildServer(Process process, Uri address)
    {
        _process = process;
        Address = address;
        Client = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>Gets the address the test expects the server on.</summary>
    public Uri Address { get; }

    /// <summary>Gets a client for <see cref="Address"/>.</summary>
    public HttpClient Client { get; }

    /// <summary>Gets the last lines the process wrote.</summary>
    public string Output => string.Join('\n', _output.TakeLast(30));

    /// <summary>Starts an executable (by assembly name) and waits until <paramref name="address"/> answers <c>/healthz</c>.</summary>
    public static async Task<ChildServer> StartAsync(string assembly, Uri address, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? assembly + ".exe" : assembly))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        // The test process's own ASP.NET Core settings must not leak into the child.
        start.Environment.Remove("ASPNETCORE_URLS");
        start.Environment.Remove("ASPNETCORE_HTTP_PORTS");
        start.Environment.Remove("ASPNETCORE_HTTPS_PORTS");
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        var server = new ChildServer(Process.Start(start)!, address);
        server._process.OutputDataReceived += (_, e) => server._output.Enqueue(e.Data ?? string.Empty);
        server._process.ErrorDataReceived += (_, e) => server._output.Enqueue(e.Data ?? string.Empty);
        server._process.BeginOutputReadLine();
        server._process.BeginErrorReadLine();
        for (var attempt = 0; attempt < 1200; attempt++)
        {
            Assert.False(server._process.HasExited, $"{assembly} exited during start-up:\n{server.Output}");
            try
            {
                using var response = await server.Client.GetAsync("/healthz");
                if (response.IsSuccessStatusCode)
                {
                    return server;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        var output = server.Output;
        await server.DisposeAsync();
        throw new Xunit.Sdk.XunitException($"{assembly} did not answer on {address} within two minutes:\n{output}");
    }

    /// <summary>Gets a free loopback port.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
