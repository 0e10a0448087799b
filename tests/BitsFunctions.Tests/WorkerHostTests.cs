using Bits.Protocol;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Azure.Functions.Worker.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using OpenTelemetry.Trace;

namespace BitsFunctions.Tests;

/// <summary>The real isolated-worker host, built the way Program.cs builds it (not started: there is no Functions host).</summary>
public class WorkerHostTests
{
    [Fact]
    public void WorkerHost_BuiltLikeProgram_ResolvesHandlerTelemetryAndRaisedBodyLimit()
    {
        var builder = FunctionsApplication.CreateBuilder([]);
        builder.Configuration.AddInMemoryCollection(RepoFiles.SampleConfiguration());
        builder.ConfigureFunctionsWebApplication();
        BitsFunctionsApp.ConfigureServices(builder.Services, builder.Configuration);

        using var host = builder.Build();

        Assert.NotNull(host.Services.GetRequiredService<BitsProtocolHandler>());
        Assert.NotNull(host.Services.GetRequiredService<TracerProvider>());
        var kestrel = host.Services.GetRequiredService<IOptions<KestrelServerOptions>>().Value;
        Assert.Equal(BitsFunctionsApp.MaxRequestBodyBytes, kestrel.Limits.MaxRequestBodySize);
        Assert.True(kestrel.Limits.MaxRequestBodySize >= host.Services.GetRequiredService<IOptions<BitsServerOptions>>().Value.MaxFragmentBytes);
    }
}
