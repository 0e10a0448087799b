using Bits.AspNetCore;
using Bits.Protocol;
using Bits.Storage.Azure;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Azure.Functions.Worker.OpenTelemetry;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace BitsFunctions;

/// <summary>The Functions app's service registration; <c>Program.cs</c> and the tests both go through it.</summary>
public static class BitsFunctionsApp
{
    /// <summary>The URL path below which files are uploaded: <c>https://&lt;app&gt;/uploads/&lt;path&gt;</c>.</summary>
    public const string RoutePrefix = "/uploads";

    /// <summary>
    /// Largest request body the worker's own Kestrel (behind the Functions host) accepts. Fragments are bounded by
    /// <c>Bits:MaxFragmentBytes</c> in the handler and the host caps bodies at 100 MB; Kestrel's 30 MB default must not
    /// cut in first.
    /// </summary>
    public const long MaxRequestBodyBytes = 128L * 1024 * 1024;

    public static IServiceCollection ConfigureServices(IServiceCollection services, IConfiguration configuration)
    {
        services.AddAzureBitsStorage(configuration);
        services.AddBitsUploadServer(configuration);

        // Azure's front ends cut an HTTP-triggered function's request at 230 s: a back-end may take at most 200 s.
        services.Configure<BitsHostLimits>(limits =>
        {
            limits.MaxNotificationTimeout = BitsHostLimits.AzureFrontEndMaxNotificationTimeout;
            limits.MaxNotificationTimeoutReason = "Azure's front ends cut an HTTP-triggered function's request at 230 s";
        });

        // The janitor runs from BitsJanitorFunction's timer here, not from the hosted service.
        services.Configure<BitsJanitorSchedule>(schedule => schedule.HostedService = false);
        services.AddBitsTelemetry(configuration).UseFunctionsWorkerDefaults();
        services.Configure<KestrelServerOptions>(kestrel => kestrel.Limits.MaxRequestBodySize = MaxRequestBodyBytes);
        return services;
    }
}
