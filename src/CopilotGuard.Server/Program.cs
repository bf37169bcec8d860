using CopilotGuard.Hosting;

var app = await CopilotGuardServer.BuildAsync(args);
await app.RunAsync();
