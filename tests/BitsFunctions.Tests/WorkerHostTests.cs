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

    [Theory]
    [InlineData("Bits__Authentcation__AllowAnonymous", "Bits:Authentcation:AllowAnonymous", null)]
    [InlineData("Bits__Areas__secure__Authentication__AllowAnonymus", "Bits:Areas:secure:Authentication:AllowAnonymus", null)]
    [InlineData("BitsStorage__SegmentBytes", "BitsStorage:SegmentBytes", null)]
    [InlineData("Bits__Auth__Bearer__Audience", "Bits:Auth:Bearer:Audience", "Bits__Authentication__BearerTokens__Audience")]
    [InlineData("Bits__Auth__BasicUsers__alice", "Bits:Auth:BasicUsers:alice", "Bits__Authentication__BasicUsers__alice")]
    [InlineData("Bits__UploadsEnabled", "Bits:UploadsEnabled", "Bits__Enabled")]
    public void AppSetting_NoOptionBinds_FailsStartupNamingIt(string appSetting, string key, string? renamedAppSetting)
    {
        // App settings reach the worker as environment variables; a prefix of this test's own keeps them apart from others'.
        var prefix = "BITSTEST" + Guid.NewGuid().ToString("N") + "_";
        Environment.SetEnvironmentVariable(prefix + "Bits__Areas__secure__PathPrefix", "secure");
        Environment.SetEnvironmentVariable(prefix + "Bits__Areas__secure__BlobPrefix", "secure/");
        Environment.SetEnvironmentVariable(prefix + appSetting, "false");
        try
        {
            var builder = FunctionsApplication.CreateBuilder([]);
            builder.Configuration.AddInMemoryCollection(RepoFiles.SampleConfiguration());
            builder.Configuration.AddEnvironmentVariables(prefix);
            builder.ConfigureFunctionsWebApplication();
            BitsFunctionsApp.ConfigureServices(builder.Services, builder.Configuration);
            using var host = builder.Build();

            var error = Assert.Throws<OptionsValidationException>(() => host.Services.GetRequiredService<IOptions<BitsServerOptions>>().Value);

            Assert.Contains($"Unknown setting '{key}'", error.Message, StringComparison.Ordinal);
            if (renamedAppSetting is not null)
            {
                Assert.Contains($"(app setting '{renamedAppSetting}')", error.Message, StringComparison.Ordinal);
            }
        }
        finally
        {
            Environment.SetEnvironmentVariable(prefix + "Bits__Areas__secure__PathPrefix", null);
            Environment.SetEnvironmentVariable(prefix + "Bits__Areas__secure__BlobPrefix", null);
            Environment.SetEnvironmentVariable(prefix + appSetting, null);
        }
    }

    [Theory]
    [InlineData("00:03:20", true)]
    [InlineData("00:03:21", false)]
    public void NotificationTimeout_InTheFunctionsApp_IsAtMost200Seconds(string timeout, bool valid)
    {
        // Rule 6a.14: Azure's front ends cut an HTTP-triggered function's request at 230 s.
        var builder = FunctionsApplication.CreateBuilder([]);
        builder.Configuration.AddInMemoryCollection(RepoFiles.SampleConfiguration());
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Bits:Areas:reply:PathPrefix"] = "reply",
            ["Bits:Areas:reply:BlobPrefix"] = "reply/",
            ["Bits:Areas:reply:NotificationType"] = "ByValue",
            ["Bits:Areas:reply:NotificationUrl"] = "http://127.0.0.1:9/backend",
            ["Bits:Areas:reply:NotificationTimeout"] = timeout,
        });
        builder.ConfigureFunctionsWebApplication();
        BitsFunctionsApp.ConfigureServices(builder.Services, builder.Configuration);
        using var host = builder.Build();

        var read = () => host.Services.GetRequiredService<IOptions<BitsServerOptions>>().Value;

        if (valid)
        {
            Assert.Equal(TimeSpan.Parse(timeout, System.Globalization.CultureInfo.InvariantCulture), read().Areas["reply"].NotificationTimeout);
        }
        else
        {
            var error = Assert.Throws<OptionsValidationException>(read);
            Assert.Contains("NotificationTimeout must be more than 0 and at most 00:03:20", error.Message, StringComparison.Ordinal);
        }
    }
}
