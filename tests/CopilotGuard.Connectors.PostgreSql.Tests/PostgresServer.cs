using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;

namespace CopilotGuard.Connectors.PostgreSql.Tests;

/// <summary>A throwaway PostgreSQL cluster: <c>initdb</c> into a temporary folder, <c>pg_ctl start</c> on a free
/// loopback port with its unix socket in that folder; stopped and deleted on dispose.</summary>
/// <remarks>Run as root (as CI does), the binaries run as the <c>postgres</c> user through <c>runuser</c>, because
/// <c>initdb</c> refuses root; the folder is handed to that user first.</remarks>
public sealed class PostgresServer : IAsyncLifetime
{
    private string? _folder;
    private int _schemas;
    private NpgsqlDataSource? _dataSource;

    /// <summary>Gets the folder holding the binaries (<c>/usr/lib/postgresql/N/bin</c>, highest N), or null.</summary>
    public static string? BinaryFolder { get; } = FindBinaries();

    /// <summary>Gets why the PostgreSQL tests cannot run here, or null when they can.</summary>
    public static string? SkipReason => BinaryFolder is null
        ? "PostgreSQL binaries are not installed (no /usr/lib/postgresql/*/bin/initdb); install Debian's postgresql (apt-get install -y postgresql) to run these tests."
        : null;

    /// <summary>Gets why the pgvector tests cannot run here (no PostgreSQL, or no <c>vector</c> extension packaged for
    /// it), or null when they can.</summary>
    public static string? PgVectorSkipReason { get; } = SkipReason ?? FindPgVector();

    public string ConnectionString { get; private set; } = string.Empty;

    public async Task InitializeAsync()
    {
        if (BinaryFolder is null)
        {
            return;
        }

        _folder = Directory.CreateTempSubdirectory("copilotguard-pg-").FullName;
        var data = Path.Combine(_folder, "data");
        var asRoot = Environment.UserName == "root";
        if (asRoot)
        {
            await RunAsync("chown", ["-R", "postgres:postgres", _folder], asPostgres: false);
        }

        await RunAsync(Path.Combine(BinaryFolder, "initdb"), ["-D", data, "-U", "copilotguard", "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"], asRoot);
        var port = FreePort();
        var settings = $"-p {port} -k {_folder} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50";
        await RunAsync(Path.Combine(BinaryFolder, "pg_ctl"), ["-D", data, "-l", Path.Combine(_folder, "server.log"), "-o", settings, "-w", "-t", "60", "start"], asRoot);
        ConnectionString = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = port,
            Username = "copilotguard",
            Database = "postgres",
            Pooling = true,
            MaxPoolSize = 20,
        }.ToString();
        _dataSource = NpgsqlDataSource.Create(ConnectionString);
    }

    /// <summary>Gets a data source over the cluster's <c>postgres</c> database.</summary>
    public NpgsqlDataSource DataSource => _dataSource ?? throw new InvalidOperationException(SkipReason ?? "The PostgreSQL cluster is not started.");

    /// <summary>Returns a schema name not used before in this cluster, so each store starts empty.</summary>
    public string NewSchema() => $"store_{Interlocked.Increment(ref _schemas)}";

    public async Task DisposeAsync()
    {
        if (_folder is null || BinaryFolder is null)
        {
            return;
        }

        if (_dataSource is not null)
        {
            await _dataSource.DisposeAsync();
        }

        NpgsqlConnection.ClearAllPools();
        try
        {
            await RunAsync(Path.Combine(BinaryFolder, "pg_ctl"), ["-D", Path.Combine(_folder, "data"), "-m", "immediate", "-w", "stop"], Environment.UserName == "root");
        }
        finally
        {
            try
            {
                Directory.Delete(_folder, recursive: true);
            }
            catch (IOException)
            {
            }
        }
    }

    private static string? FindBinaries()
    {
        const string root = "/usr/lib/postgresql";
        if (!Directory.Exists(root))
        {
            return null;
        }

        return Directory.EnumerateDirectories(root)
            .Select(static folder => (Folder: Path.Combine(folder, "bin"), Version: int.TryParse(Path.GetFileName(folder), out var v) ? v : 0))
            .Where(static candidate => File.Exists(Path.Combine(candidate.Folder, "initdb")) && File.Exists(Path.Combine(candidate.Folder, "pg_ctl")))
            .OrderByDescending(static candidate => candidate.Version)
            .Select(static candidate => candidate.Folder)
            .FirstOrDefault();
    }

    private static string? FindPgVector()
    {
        var version = Path.GetFileName(Path.GetDirectoryName(BinaryFolder));
        var control = $"/usr/share/postgresql/{version}/extension/vector.control";
        return File.Exists(control)
            ? null
            : $"The pgvector extension is not installed for PostgreSQL {version} (no {control}); install postgresql-{version}-pgvector to run the pgvector path (Debian packages it from trixie on; bookworm does not).";
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task RunAsync(string program, string[] arguments, bool asPostgres)
    {
        var start = new ProcessStartInfo(asPostgres ? "runuser" : program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = "/",
        };
        if (asPostgres)
        {
            foreach (var prefix in (string[])["-u", "postgres", "--", program])
            {
                start.ArgumentList.Add(prefix);
            }
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} exited with {process.ExitCode}: {await error}{await output}");
        }
    }
}

/// <summary>Shares one cluster across the PostgreSQL test classes.</summary>
[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "postgres";
}

/// <summary>A fact that is skipped, with the reason, when PostgreSQL is not installed.</summary>
public sealed class PostgresFactAttribute : FactAttribute
{
    public PostgresFactAttribute() => Skip = PostgresServer.SkipReason;
}

/// <summary>A theory that is skipped, with the reason, when PostgreSQL is not installed.</summary>
public sealed class PostgresTheoryAttribute : TheoryAttribute
{
    public PostgresTheoryAttribute() => Skip = PostgresServer.SkipReason;
}

/// <summary>A fact that is skipped, with the reason, when the pgvector extension is not installed.</summary>
public sealed class PgVectorFactAttribute : FactAttribute
{
    public PgVectorFactAttribute() => Skip = PostgresServer.PgVectorSkipReason;
}

/// <summary>A fact about a server without pgvector: skipped, with the reason, when PostgreSQL is missing or has pgvector.</summary>
public sealed class WithoutPgVectorFactAttribute : FactAttribute
{
    public WithoutPgVectorFactAttribute() => Skip = PostgresServer.SkipReason ?? (PostgresServer.PgVectorSkipReason is null ? "The pgvector extension is installed here, so this case (pgvector missing) cannot arise." : null);
}
