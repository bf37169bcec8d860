using System.Diagnostics.Metrics;
using System.Security.Claims;
using CopilotGuard.Audit;
using CopilotGuard.Hosting.Identity;
using CopilotGuard.Retrieval;

namespace CopilotGuard.Hosting;

/// <summary>Counts the audit records appended on behalf of the current request.</summary>
internal sealed class RequestAuditCounter
{
    private int _count;

    /// <summary>Gets how many records the request appended.</summary>
    public int Count => Volatile.Read(ref _count);

    internal void Increment() => Interlocked.Increment(ref _count);
}

/// <summary>The audit log every part of the runtime appends through, counting appends per request (see <see cref="RefusalAudit"/>).</summary>
/// <param name="inner">The log appended to.</param>
internal class RequestTrackingAuditLog(IAuditLog inner) : IAuditLog
{
    /// <summary>Wraps a log, keeping its retention capability when it has one.</summary>
    public static RequestTrackingAuditLog Wrap(IAuditLog inner) =>
        inner is IAuditRetention retention ? new WithRetention(inner, retention) : new RequestTrackingAuditLog(inner);

    private static readonly AsyncLocal<RequestAuditCounter?> CurrentCounter = new();

    /// <summary>Starts counting the appends of the current asynchronous flow (one HTTP request).</summary>
    public static RequestAuditCounter Begin()
    {
        var counter = new RequestAuditCounter();
        CurrentCounter.Value = counter;
        return counter;
    }

    /// <inheritdoc />
    public Task InitializeAsync(CancellationToken cancellationToken) => inner.InitializeAsync(cancellationToken);

    /// <inheritdoc />
    public async Task<AuditEntry> AppendAsync(AuditRecord record, CancellationToken cancellationToken)
    {
        var entry = await inner.AppendAsync(record, cancellationToken).ConfigureAwait(false);
        CurrentCounter.Value?.Increment();
        return entry;
    }

    /// <inheritdoc />
    public Task<AuditEntry?> GetAsync(string recordId, CancellationToken cancellationToken) => inner.GetAsync(recordId, cancellationToken);

    /// <inheritdoc />
    public Task<AuditVerification> VerifyAsync(CancellationToken cancellationToken) => inner.VerifyAsync(cancellationToken);

    /// <summary>A tracked log whose inner log applies retention.</summary>
    private sealed class WithRetention(IAuditLog inner, IAuditRetention retention) : RequestTrackingAuditLog(inner), IAuditRetention
    {
        public Task<AuditRetentionReport> ApplyRetentionAsync(AuditRetentionPolicy policy, AuditRetentionRun run, CancellationToken cancellationToken) =>
            retention.ApplyRetentionAsync(policy, run, cancellationToken);
    }
}

/// <summary>The one gate that makes every refusal evidence: an authenticated request answered with 4xx or 5xx leaves
/// exactly one audit record. When the operation recorded its own refusal (a gate's <c>refused</c> record, a denied
/// <c>audit-query</c>, a refused <c>deanonymize</c>), that record is the one; otherwise this gate appends a
/// <c>refused</c> record naming the route, the status and the problem's (sanitized, bounded) detail, before the
/// response starts.</summary>
internal static partial class RefusalAudit
{
    /// <summary>The record kind the gate writes.</summary>
    public const string Kind = "refused";

    /// <summary>The most characters of a problem detail the record keeps.</summary>
    public const int MaxReason = 300;

    /// <summary>The counter of refusal records that could not be written (meter <see cref="RetrievalTelemetry.Name"/>).</summary>
    public const string RecordFailuresCounter = "copilotguard.audit.refusal_record_failures";

    private static readonly Meter Meter = new(RetrievalTelemetry.Name);
    private static readonly Counter<long> RecordFailures = Meter.CreateCounter<long>(RecordFailuresCounter, description: "Refusals answered without their audit record, because the audit log could not be written.");

    /// <summary>Adds the gate; it must be the outermost middleware so it sees the final status of every request, errors included.</summary>
    public static IApplicationBuilder UseRefusalAudit(this IApplicationBuilder app) => app.Use(static async (context, next) =>
    {
        // Async, so the counter set here is scoped to this request's flow and restored when the request ends.
        var counter = RequestTrackingAuditLog.Begin();
        context.Response.OnStarting(static state =>
        {
            var (context, counter) = ((HttpContext, RequestAuditCounter))state;
            return RecordAsync(context, counter);
        }, (context, counter));
        await next(context).ConfigureAwait(false);
    });

    private static async Task RecordAsync(HttpContext context, RequestAuditCounter counter)
    {
        var status = context.Response.StatusCode;
        if (status < 400 || counter.Count > 0 || context.User.Identity?.IsAuthenticated != true)
        {
            return;
        }

        var runtime = context.RequestServices.GetRequiredService<CopilotGuardRuntime>();
        var operation = EdgeValidation.Operation(context) ?? "unmatched";
        var reason = context.Items[EdgeValidation.ProblemItem] as string ?? ReasonPhrase(status);
        var ignored = context.Items[TokenRoles.IgnoredItem] as string;
        var policy = runtime.PolicyHolder.Current;
        var record = new AuditRecord
        {
            RecordId = "rcpt_" + Guid.CreateVersion7().ToString("N"),
            Kind = Kind,
            Time = DateTimeOffset.UtcNow,
            Tenant = runtime.Broker.Tenant,
            SubjectId = Bounded(context.User.FindFirst("sub")?.Value) ?? "(no subject)",
            ActorId = Actor(context.User),
            ClientAddress = context.Connection.RemoteIpAddress?.ToString(),
            PolicyVersion = policy.Version,
            PolicyHash = policy.Hash,
            Decision = Decision(status),
            Target = $"operation:{operation} status:{status} reason:{Cut(reason)}{(ignored is null ? string.Empty : " ignored-token-roles:" + ignored)}",
        };
        try
        {
            await runtime.AuditLog.AppendAsync(record, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception exception)
        {
            // The answer is a refusal already (no data leaves); what is lost is the evidence, which operators must see.
            RecordFailures.Add(1, new KeyValuePair<string, object?>("operation", operation), new KeyValuePair<string, object?>("status", status));
            LogRecordFailure(context.RequestServices.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(RefusalAudit)), exception, operation, status, Cut(reason));
        }
    }

    /// <summary>The record's decision for a status.</summary>
    public static string Decision(int status) => status switch
    {
        StatusCodes.Status401Unauthorized => "unauthorized",
        StatusCodes.Status403Forbidden => "forbidden",
        StatusCodes.Status404NotFound => "not-found",
        StatusCodes.Status410Gone => "gone",
        StatusCodes.Status413PayloadTooLarge => "too-large",
        StatusCodes.Status429TooManyRequests => "rate-limited",
        StatusCodes.Status501NotImplemented => "not-supported",
        StatusCodes.Status503ServiceUnavailable => "unavailable",
        >= 500 => "error",
        _ => "invalid",
    };

    private static string ReasonPhrase(int status) =>
        Microsoft.AspNetCore.WebUtilities.ReasonPhrases.GetReasonPhrase(status) is { Length: > 0 } phrase ? phrase : "refused";

    private static string Cut(string reason) => reason.Length <= MaxReason ? reason : reason[..MaxReason] + "…";

    private static string? Bounded(string? id) =>
        string.IsNullOrEmpty(id) ? null : id.Length <= 256 ? id : id[..200] + "…(truncated)";

    private static string? Actor(ClaimsPrincipal user)
    {
        var acts = user.FindAll("act").Take(2).ToList();
        if (acts.Count != 1)
        {
            return acts.Count == 0 ? null : "(several actors)";
        }

        return DevelopmentIssuer.ReadActor(acts[0].Value) is { } actor ? Bounded(actor) : "(malformed actor)";
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "The refusal record of {Operation} ({Status}: {Reason}) could not be written; the caller was refused, but the audit log lacks the evidence.")]
    private static partial void LogRecordFailure(ILogger logger, Exception exception, string operation, int status, string reason);
}
