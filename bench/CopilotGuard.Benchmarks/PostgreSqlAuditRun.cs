using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using CopilotGuard.Audit;
using CopilotGuard.Connectors.PostgreSql;
using CopilotGuard.Connectors.Sqlite;
using Npgsql;

namespace CopilotGuard.Benchmarks;

/// <summary>Durable audit appends per second and per-append latency (p50/p99 as seen by a caller) on PostgreSQL with
/// <c>fsync=on</c> and <c>synchronous_commit=on</c>, group commit against one transaction per record, with the SQLite
/// log (WAL, synchronous=FULL) under the same driver for comparison.</summary>
/// <remarks>Starts its own throwaway cluster (<c>initdb</c> + <c>pg_ctl</c> from <c>/usr/lib/postgresql/*/bin</c>, as the
/// <c>postgres</c> user when run as root) on the disk that holds the temporary folder, and removes it afterwards.</remarks>
internal static class PostgreSqlAuditRun
{
    public static async Task RunAsync(double seconds, int concurrency)
    {
        var folder = Directory.CreateTempSubdirectory("copilotguard-pg-bench-").FullName;
        using var signer = EcdsaAuditSigner.LoadOrCreate(Path.Combine(folder, "keys", "audit-checkpoint.pem"));
        await using var cluster = await DurableCluster.StartAsync(folder).ConfigureAwait(false);
        Console.WriteLine($"Audit appends: {concurrency} concurrent callers, {seconds.ToString(CultureInfo.InvariantCulture)} s per row after 1 s warm-up; {Environment.ProcessorCount} cores; PostgreSQL {cluster.Version} (fsync=on, synchronous_commit=on); SQLite WAL synchronous=FULL");
        Console.WriteLine("| log | max batch | durable appends/s | p50 ms | p99 ms | records per commit |");
        Console.WriteLine("|---|---:|---:|---:|---:|---:|");
        var row = 0;
        foreach (var batch in (int[])[512, 1])
        {
            var schema = $"bench_{row++}";
            await using (var log = new PostgreSqlAuditLog(cluster.DataSource, new PostgreSqlAuditLogOptions { Schema = schema, MaxBatchSize = batch }, signer))
            {
                await log.InitializeAsync(CancellationToken.None).ConfigureAwait(false);
                await MeasureAsync("PostgreSQL", batch, log, () => log.Commits, seconds, concurrency).ConfigureAwait(false);
            }
        }

        foreach (var batch in (int[])[512, 1])
        {
            await using var log = new SqliteAuditLog(Path.Combine(folder, $"audit-{batch}.db"), new SqliteAuditLogOptions { MaxBatchSize = batch }, signer);
            await log.InitializeAsync(CancellationToken.None).ConfigureAwait(false);
            await MeasureAsync("SQLite", batch, log, () => log.Commits, seconds, concurrency).ConfigureAwait(false);
        }

        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
    }

    private static async Task MeasureAsync(string name, int batch, IAuditLog log, Func<long> commits, double seconds, int concurrency)
    {
        var next = 0;
        await DriveAsync(log, concurrency, TimeSpan.FromSeconds(1), () => Interlocked.Increment(ref next)).ConfigureAwait(false);
        var before = commits();
        var clock = Stopwatch.StartNew();
        var latencies = await DriveAsync(log, concurrency, TimeSpan.FromSeconds(seconds), () => Interlocked.Increment(ref next)).ConfigureAwait(false);
        clock.Stop();
        var committed = commits() - before;
        latencies.Sort();
        var verification = await log.VerifyAsync(CancellationToken.None).ConfigureAwait(false);
        if (!verification.Ok)
        {
            throw new InvalidOperationException($"{name}: the log does not verify after the run: {verification.Problem}");
        }

        Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"| {name} | {batch} | {latencies.Count / clock.Elapsed.TotalSeconds:F0} | {Percentile(latencies, 0.50):F2} | {Percentile(latencies, 0.99):F2} | {latencies.Count / (double)Math.Max(1, committed):F1} |"));
    }

    /// <summary>Runs <paramref name="concurrency"/> callers appending back to back until the time is up; returns each append's latency in milliseconds.</summary>
    private static async Task<List<double>> DriveAsync(IAuditLog log, int concurrency, TimeSpan duration, Func<int> nextId)
    {
        var deadline = Stopwatch.GetTimestamp() + (long)(duration.TotalSeconds * Stopwatch.Frequency);
        var perWorker = await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            var mine = new List<double>();
            while (Stopwatch.GetTimestamp() < deadline)
            {
                var start = Stopwatch.GetTimestamp();
                await log.AppendAsync(AuditBenchmarks.Record(nextId()), CancellationToken.None).ConfigureAwait(false);
                mine.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }

            return mine;
        }))).ConfigureAwait(false);
        return [.. perWorker.SelectMany(static l => l)];
    }

    private static double Percentile(List<double> sorted, double p) =>
        sorted.Count == 0 ? double.NaN : sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(p * sorted.Count) - 1)];

    /// <summary>A throwaway cluster with the durable defaults (fsync, synchronous_commit, full_page_writes on).</summary>
    private sealed class DurableCluster : IAsyncDisposable
    {
        private readonly string _bin;
        private readonly string _folder;
        private readonly bool _asPostgres;

        private DurableCluster(string bin, string folder, bool asPostgres, NpgsqlDataSource dataSource, string version)
        {
            _bin = bin;
            _folder = folder;
            _asPostgres = asPostgres;
            DataSource = dataSource;
            Version = version;
        }

        public NpgsqlDataSource DataSource { get; }

        public string Version { get; }

        public static async Task<DurableCluster> StartAsync(string folder)
        {
            var bin = Directory.Exists("/usr/lib/postgresql")
                ? Directory.EnumerateDirectories("/usr/lib/postgresql").Select(static d => Path.Combine(d, "bin")).Where(static d => File.Exists(Path.Combine(d, "initdb"))).OrderDescending().FirstOrDefault()
                : null;
            if (bin is null)
            {
                throw new InvalidOperationException("PostgreSQL binaries are not installed (no /usr/lib/postgresql/*/bin/initdb); apt-get install -y postgresql.");
            }

            var asPostgres = Environment.UserName == "root";
            if (asPostgres)
            {
                await RunAsync("chown", ["-R", "postgres:postgres", folder], false).ConfigureAwait(false);
            }

            var data = Path.Combine(folder, "data");
            await RunAsync(Path.Combine(bin, "initdb"), ["-D", data, "-U", "copilotguard", "--auth=trust", "-E", "UTF8", "--no-locale"], asPostgres).ConfigureAwait(false);
            int port;
            using (var listener = new TcpListener(IPAddress.Loopback, 0))
            {
                listener.Start();
                port = ((IPEndPoint)listener.LocalEndpoint).Port;
            }

            var settings = $"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=50";
            await RunAsync(Path.Combine(bin, "pg_ctl"), ["-D", data, "-l", Path.Combine(folder, "server.log"), "-o", settings, "-w", "-t", "60", "start"], asPostgres).ConfigureAwait(false);
            var dataSource = NpgsqlDataSource.Create(new NpgsqlConnectionStringBuilder { Host = "127.0.0.1", Port = port, Username = "copilotguard", Database = "postgres", MaxPoolSize = 20 }.ToString());
            await using var command = dataSource.CreateCommand("SELECT current_setting('server_version') || ', fsync=' || current_setting('fsync') || ', synchronous_commit=' || current_setting('synchronous_commit')");
            var version = (string)(await command.ExecuteScalarAsync().ConfigureAwait(false))!;
            return new DurableCluster(bin, folder, asPostgres, dataSource, version);
        }

        public async ValueTask DisposeAsync()
        {
            await DataSource.DisposeAsync().ConfigureAwait(false);
            NpgsqlConnection.ClearAllPools();
            try
            {
                await RunAsync(Path.Combine(_bin, "pg_ctl"), ["-D", Path.Combine(_folder, "data"), "-m", "fast", "-w", "stop"], _asPostgres).ConfigureAwait(false);
            }
            finally
            {
                Directory.Delete(_folder, recursive: true);
            }
        }

        private static async Task RunAsync(string program, string[] arguments, bool asPostgres)
        {
            var start = new ProcessStartInfo(asPostgres ? "runuser" : program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = "/" };
            foreach (var argument in asPostgres ? ["-u", "postgres", "--", program, .. arguments] : arguments)
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync().ConfigureAwait(false);
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}: {await error.ConfigureAwait(false)}{await output.ConfigureAwait(false)}");
            }
        }
    }
}
