# CopilotGuard server container (see docs/deployment.md, "Container").
#   docker build -t copilotguard .
#   docker run -p 8080:8080 -v copilotguard-data:/data -e CopilotGuard__Identity__Authority=... copilotguard

FROM mcr.microsoft.com/dotnet/sdk:10.0 AS build
WORKDIR /src
# The whole tree (less .dockerignore): the server's project graph is restored and published from it.
COPY . .
RUN dotnet restore src/CopilotGuard.Server/CopilotGuard.Server.csproj
RUN dotnet publish src/CopilotGuard.Server/CopilotGuard.Server.csproj -c Release --no-restore -o /app

FROM mcr.microsoft.com/dotnet/aspnet:10.0 AS runtime
WORKDIR /app
COPY --from=build /app ./
# The data folder (SQLite store, audit log, vault, keys, policies) outlives the container; the image's non-root user owns it.
RUN mkdir /data && chown app:app /data
VOLUME ["/data"]
USER app
# The server's loopback default (127.0.0.1:5180) applies only when no address is configured: this one wins.
ENV ASPNETCORE_HTTP_PORTS=8080 \
    CopilotGuard__DataDirectory=/data
EXPOSE 8080
# The aspnet image has no curl or wget: bash's /dev/tcp sends the request (drop this on a chiseled image, which has no shell).
HEALTHCHECK --interval=30s --timeout=10s --start-period=120s --retries=3 \
    CMD ["bash", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz/ready HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && head -n 1 <&3 | grep -q ' 200 '"]
ENTRYPOINT ["dotnet", "CopilotGuard.Server.dll"]
