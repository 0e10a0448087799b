using Bits.AspNetCore;
using Bits.Storage.Azure;
using Microsoft.AspNetCore.Server.Kestrel.Core;

namespace Bits.Host;

/// <summary>Builds the Kestrel host; tests build it the same way on a free loopback port.</summary>
public static class BitsHostApp
{
    public const string RoutePrefix = "/uploads";

    /// <summary>Minimum average request-body rate once <see cref="BodyGracePeriod"/> has passed (Kestrel's default, explicit).</summary>
    public const double MinBodyBytesPerSecond = 240;

    /// <summary>How long a request body may stall before the minimum rate applies.</summary>
    public static readonly TimeSpan BodyGracePeriod = TimeSpan.FromSeconds(5);

    /// <summary>How long a client may take to send the request line and headers (slow-headers attacks).</summary>
    public static readonly TimeSpan RequestHeadersTimeout = TimeSpan.FromSeconds(30);

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddAzureBitsStorage(builder.Configuration);
        builder.Services.AddBitsUploadServer(builder.Configuration);
        builder.Services.AddBitsTelemetry(builder.Configuration);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Fragments are bounded by Bits:MaxFragmentBytes in the handler (413 above it); Kestrel's own cap must not
            // cut in first.
            kestrel.Limits.MaxRequestBodySize = 128L * 1024 * 1024;

            // Slow or stalled bodies: after the grace period a client must average at least this rate, or Kestrel fails
            // the read (the handler then stores nothing: rule 6a.1), answers 408 if it can and closes the connection.
            // Body buffers come from the handler's bounded fragment memory (Bits:FragmentMemoryBytes), and no storage
            // lease or lock is ever held while a body is read. The rate is low enough for BITS clients under
            // bandwidth policies (a few kbit/s).
            kestrel.Limits.MinRequestBodyDataRate = new MinDataRate(MinBodyBytesPerSecond, BodyGracePeriod);
            kestrel.Limits.RequestHeadersTimeout = RequestHeadersTimeout;
            kestrel.AddServerHeader = false;
        });
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapBitsUploads(RoutePrefix);
        return app;
    }
}
