// A team's own ASP.NET Core app with CopilotGuard's retrieval, policy, audit and console routes added.
var builder = WebApplication.CreateBuilder(args);
builder.Services.AddCopilotGuard(builder.Configuration).AddSqliteStore().AddSqliteAudit().AddLocalEmbeddings();

var app = builder.Build();
app.UseCopilotGuard();
app.MapCopilotGuard();
app.MapGet("/", () => "Our copilot's backend; retrieval is at POST /v1/retrieve.").AllowAnonymous();
app.Run();
