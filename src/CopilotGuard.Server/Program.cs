using CopilotGuard.Server.Hosting;

var app = await CopilotGuardServer.BuildAsync(args);
await app.RunAsync();
