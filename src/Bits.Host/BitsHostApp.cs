using Bits.AspNetCore;

namespace Bits.Host;

/// <summary>Builds the Kestrel host; tests build it the same way on a free loopback port.</summary>
public static class BitsHostApp
{
    public const string RoutePrefix = "/uploads";

    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.Services.AddBitsUploadServer(builder.Configuration);
        builder.Services.AddBitsTelemetry(builder.Configuration);
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            // Fragments are bounded by Bits:MaxFragmentBytes in the handler (413 above it); Kestrel's own cap must not
            // cut in first.
            kestrel.Limits.MaxRequestBodySize = 128L * 1024 * 1024;
            kestrel.AddServerHeader = false;
        });
        configure?.Invoke(builder);

        var app = builder.Build();
        app.MapGet("/healthz", () => Results.Text("ok"));
        app.MapBitsUploads(RoutePrefix);
        return app;
    }
}
