using CopilotGuard.Cli;

return await CliApp.Build().Parse(args).InvokeAsync();
