using System.Text.Json;
using CopilotGuard.Retrieval;
using CopilotGuard.Server.Tests.PostgreSql;

namespace CopilotGuard.Server.Tests;

/// <summary>Each sample person against each field of each structured source, over HTTP.</summary>
public abstract class FieldSensitivityTests(StoreServerFixture server)
{
    private static readonly string[] People = ["alice", "paul", "bob", "carol", "dana", "erin", "cora", "frank"];

    public static TheoryData<string, string> PeopleAndDestinations =>
        new() { { "alice", "internal" }, { "paul", "internal" }, { "bob", "internal" }, { "carol", "internal" }, { "dana", "internal" }, { "erin", "internal" }, { "cora", "internal" }, { "frank", "internal" }, { "paul", "external" }, { "erin", "external" }, { "alice", "external" } };

    [StoreTheory]
    [MemberData(nameof(PeopleAndDestinations))]
    public async Task StructuredRows_EveryField_IsReleasedOnlyAsThePolicySays(string person, string destination)
    {
        var queries = new[] { "annual base salary payroll record", "card transaction flagged as suspicious", "employee hire date and SSN" };
        foreach (var query in queries)
        {
            var (_, chunks) = await server.RetrieveAsync(person, query, destination: destination, top: 20);
            foreach (var row in chunks.Where(static c => c.Fields is not null))
            {
                var released = server.Released[row.Id];
                var text = released.GetProperty("text").GetString()!;
                var fields = released.TryGetProperty("fields", out var f) ? f : default;
                foreach (var (name, value) in row.Fields!)
                {
                    var clear = value.ValueKind == JsonValueKind.String ? value.GetString()! : value.GetRawText();
                    var expectation = Expect(person, destination, row.Source, name);
                    var releasedValue = fields.ValueKind == JsonValueKind.Object && fields.TryGetProperty(name, out var v) ? v : (JsonElement?)null;
                    switch (expectation)
                    {
                        case "clear":
                            Assert.Equal(clear, releasedValue is { ValueKind: JsonValueKind.String } s ? s.GetString() : releasedValue?.GetRawText());
                            break;
                        case "absent":
                            Assert.Null(releasedValue);
                            Assert.DoesNotContain(clear, text, StringComparison.Ordinal);
                            break;
                        default:
                            Assert.NotNull(releasedValue);
                            Assert.NotEqual(clear, releasedValue.Value.ValueKind == JsonValueKind.String ? releasedValue.Value.GetString() : releasedValue.Value.GetRawText());
                            Assert.DoesNotContain(clear, text, StringComparison.Ordinal);
                            break;
                    }
                }
            }
        }
    }

    [StoreFact]
    public async Task Ssn_IsNeverReturnedToAnyone()
    {
        foreach (var person in People)
        {
            foreach (var destination in (string?[])["internal", null])
            {
                var (_, chunks) = await server.RetrieveAsync(person, "social security number SSN of the employee", destination: destination, top: 30);
                foreach (var chunk in chunks)
                {
                    var released = server.Released[chunk.Id];
                    Assert.DoesNotMatch(@"\b\d{3}-\d{2}-\d{4}\b", released.GetProperty("text").GetString()!);
                    Assert.False(released.TryGetProperty("fields", out var fields) && fields.ValueKind == JsonValueKind.Object && fields.TryGetProperty("ssn", out _));
                }
            }
        }
    }

    [StoreFact]
    public async Task AuditRecord_ListsWithheldFieldsAndEntityCounts_ButNoValues()
    {
        var (receiptId, chunks) = await server.RetrieveAsync("alice", "annual base salary payroll record", top: 5);
        var entry = await server.Runtime.Audit.GetAsync(receiptId, CancellationToken.None);
        Assert.NotNull(entry);
        var payroll = entry.Record.Chunks.Where(static c => c.ChunkId.StartsWith("payroll-", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(payroll);
        Assert.All(payroll, audited =>
        {
            Assert.Equal("drop", audited.FieldsWithheld!["ssn"]);
            Assert.Equal("generalize", audited.FieldsWithheld["salary"]);
            Assert.Equal("generalize", audited.FieldsWithheld["hire_date"]);
        });
        var json = JsonSerializer.Serialize(entry.Record, CopilotGuard.Audit.AuditJsonContext.Default.AuditRecord);
        Assert.All(chunks.Where(static c => c.Fields is not null), row => Assert.DoesNotContain(row.Fields!["ssn"].GetString()!, json, StringComparison.Ordinal));
    }

    /// <summary>The expected release of a field: clear, absent (withheld), or transformed.</summary>
    private static string Expect(string person, string destination, string source, string field)
    {
        var external = destination != "internal";
        return (source, field) switch
        {
            (_, "ssn") => "absent",
            ("payroll", "salary") when external => "absent",
            ("payroll", "salary") => person == "paul" ? "clear" : "transformed",
            ("payroll", "hire_date") when external => "absent",
            ("payroll", "hire_date") => person == "paul" ? "clear" : "transformed",
            ("payroll", "name") when external => "absent",
            ("payroll", "name") => "clear",
            ("payroll", _) => "clear",
            ("transactions", "card_number") when external => "absent",
            ("transactions", "card_number") => "transformed",
            ("transactions", "customer_id" or "customer_name") when external => "absent",
            ("transactions", "customer_id" or "customer_name") => "transformed",
            ("transactions", "amount" or "flagged") when external => "absent",
            ("transactions", _) => "clear",
            _ => "clear",
        };
    }

    /// <summary>Runs these scenarios on the embedded SQLite store and audit log.</summary>
    [Collection(ServerCollection.Name)]
    public sealed class OnSqlite(ServerFixture server) : FieldSensitivityTests(server);

    /// <summary>Runs these scenarios with the store and audit log in PostgreSQL.</summary>
    [Collection(PostgreSqlServerCollection.Name)]
    public sealed class OnPostgreSql(PostgreSqlServerFixture server) : FieldSensitivityTests(server);
}
