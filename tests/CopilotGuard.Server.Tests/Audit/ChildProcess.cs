using System.Collections.Concurrent;
using System.Diagnostics;
using CopilotGuard.Audit;

namespace CopilotGuard.Server.Tests.Audit;

/// <summary>What the crash tests share: a data folder copied from the shared fixture, a program of the test output run
/// as a child process (to be killed with SIGKILL), and the checkpoint signer of a data folder.</summary>
internal static class ChildProcess
{
    /// <summary>Starts <paramref name="program"/> (an app host next to the tests) with its standard error kept in <paramref name="errors"/>.</summary>
    public static Process Start(string program, ConcurrentQueue<string> errors, params string[] args)
    {
        var start = new ProcessStartInfo(Path.Combine(AppContext.BaseDirectory, OperatingSystem.IsWindows() ? program + ".exe" : program))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        var child = Process.Start(start)!;
        child.OutputDataReceived += static (_, _) => { };
        child.ErrorDataReceived += (_, e) => errors.Enqueue(e.Data ?? string.Empty);
        child.BeginOutputReadLine();
        child.BeginErrorReadLine();
        return child;
    }

    /// <summary>Copies the shared fixture's seeded data folder without its audit log.</summary>
    public static void CopySeededFolder(string from, string to)
    {
        // The fixture only reads its store after seeding, so its files (WAL included) are a consistent copy.
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var relative = Path.GetRelativePath(from, file);
            if (relative.StartsWith("audit.db", StringComparison.Ordinal))
            {
                continue;
            }

            var target = Path.Combine(to, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}

/// <summary>The checkpoint signer of a data folder (the key the server and the CLI sign with).</summary>
internal sealed class SignerHolder(string path) : IAsyncDisposable
{
    public EcdsaAuditSigner Signer { get; } = EcdsaAuditSigner.LoadOrCreate(path);

    public static SignerHolder Of(string data) => new(Path.Combine(data, "keys", "audit-checkpoint.pem"));

    public ValueTask DisposeAsync()
    {
        Signer.Dispose();
        return ValueTask.CompletedTask;
    }
}
