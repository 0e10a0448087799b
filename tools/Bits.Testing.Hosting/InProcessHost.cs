using Bits.Host;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Bits.Testing;

/// <summary>The real Kestrel host (<see cref="BitsHostApp.Build"/>) in this process on a free loopback port.</summary>
public sealed class InProcessHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private InProcessHost(WebApplication app, Uri root)
    {
        _app = app;
        Root = root;
    }

    /// <summary>E.g. <c>http://127.0.0.1:41234/</c>.</summary>
    public Uri Root { get; }

    public IServiceProvider Services => _app.Services;

    /// <summary>The host on <paramref name="storage"/> with the janitor off (unless <paramref name="settings"/> turn it on), plus <paramref name="settings"/>.</summary>
    public static Task<InProcessHost> StartAsync(
        StorageNames storage,
        IDictionary<string, string?>? settings = null,
        Action<WebApplicationBuilder>? configure = null,
        bool logWarnings = false,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(storage);
        var values = storage.Settings(settings);
        values.TryAdd("Bits:Janitor:Enabled", "false");
        return StartAsync(
            values,
            builder =>
            {
                if (logWarnings)
                {
                    builder.Logging.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(LogLevel.Warning);
                }

                configure?.Invoke(builder);
            },
            cancellationToken);
    }

    /// <summary>
    /// Starts the host with exactly <paramref name="settings"/> as configuration, no log providers (add them in
    /// <paramref name="configure"/>), on 127.0.0.1 with a port of the OS's choosing. The one way the load test, the
    /// benchmark and the test projects start a host in their own process.
    /// </summary>
    public static async Task<InProcessHost> StartAsync(
        IReadOnlyDictionary<string, string?> settings,
        Action<WebApplicationBuilder>? configure = null,
        CancellationToken cancellationToken = default)
    {
        var app = BitsHostApp.Build([], builder =>
        {
            builder.WebHost.UseUrls("http://127.0.0.1:0");
            builder.Logging.ClearProviders();
            builder.Configuration.AddInMemoryCollection(settings);
            configure?.Invoke(builder);
        });
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        return new InProcessHost(app, new Uri(address.TrimEnd('/') + "/"));
    }

    /// <summary>The upload URL of <paramref name="path"/>, e.g. <c>http://127.0.0.1:41234/uploads/a/b.bin</c>.</summary>
    public Uri Url(string path) => new(Root, BitsHostApp.RoutePrefix.TrimStart('/') + "/" + path);

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
