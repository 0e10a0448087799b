using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Bits.Protocol;
using Bits.Storage.Azure;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Bits.AspNetCore;

public static class BitsServiceCollectionExtensions
{
    /// <summary>
    /// Registers the protocol handler with its options (section <c>Bits</c>) and the Azure store (section
    /// <c>BitsStorage</c>), validated at start-up. Storage clients are created once and shared.
    /// </summary>
    public static IServiceCollection AddBitsUploadServer(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<BitsServerOptions>().Bind(configuration.GetSection(BitsServerOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<BitsServerOptions>>(sp =>
            new BitsServerOptionsValidator(sp.GetRequiredService<IOptions<AzureBitsStorageOptions>>().Value.UploadContainer, sp.GetRequiredService<IOptions<BitsHostLimits>>()));
        services.AddOptions<AzureBitsStorageOptions>().Bind(configuration.GetSection(AzureBitsStorageOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AzureBitsStorageOptions>, AzureBitsStorageOptionsValidator>();
        services.AddSingleton(new BitsSettingsSection(AzureBitsStorageOptions.SectionName, typeof(AzureBitsStorageOptions)));

        services.TryAddSingleton(sp => CreateBlobServiceClient(sp.GetRequiredService<IOptions<AzureBitsStorageOptions>>().Value));
        services.TryAddSingleton(sp => CreateTableServiceClient(sp.GetRequiredService<IOptions<AzureBitsStorageOptions>>().Value));
        services.TryAddSingleton<AzureBitsUploadStore>();
        services.TryAddSingleton<IBitsUploadStore>(sp => sp.GetRequiredService<AzureBitsUploadStore>());
        services.TryAddSingleton(sp => CreateQueueServiceClient(sp.GetRequiredService<IOptions<AzureBitsStorageOptions>>().Value));
        services.TryAddSingleton<IBitsCompletionSink, AzureQueueCompletionSink>();
        services.TryAddSingleton(sp => new BitsNotifier(
            // One client for the process; pooled connections are recycled so DNS changes of the back-end are seen, and
            // redirects are never followed (rule 6a.14).
            new HttpClient(BitsNotifier.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan },
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<BitsNotifier>>(),
            sp.GetRequiredService<IOptions<BitsServerOptions>>().Value.MaxReplyBytes));
        services.TryAddSingleton<BitsProtocolHandler>();
        services.AddHostedService<AzureBitsStorageInitializer>();
        services.AddBitsJanitor(configuration);
        services.AddBitsAuthentication(configuration);
        services.AddBitsSettingsCheck(configuration);
        return services;
    }

    /// <summary>
    /// Maps every method on <c>{prefix}/{**path}</c> to the BITS handler (BITS_POST is not a standard verb). A fallback
    /// also catches requests whose raw target is under the prefix but whose normalised path is not (for example
    /// <c>/uploads/a/%2e%2e/%2e%2e/x</c>), so they get a BITS Ack refusing the name instead of a bare 404.
    /// </summary>
    public static IEndpointConventionBuilder MapBitsUploads(this IEndpointRouteBuilder endpoints, string prefix = "/uploads")
    {
        var trimmed = "/" + prefix.Trim('/');
        endpoints.MapFallback("{**path}", (HttpContext context) =>
        {
            if (BitsHttp.IsUnderPrefix(context, trimmed))
            {
                return BitsHttp.HandleAsync(context, trimmed);
            }

            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        });
        return endpoints.Map(trimmed + "/{**path}", (HttpContext context) => BitsHttp.HandleAsync(context, trimmed))
            .WithDisplayName("BITS uploads");
    }

    internal static BlobServiceClient CreateBlobServiceClient(AzureBitsStorageOptions options) =>
        string.IsNullOrWhiteSpace(options.ConnectionString)
            ? new BlobServiceClient(options.BlobServiceUri, Credential(options), new BlobClientOptions())
            : new BlobServiceClient(options.ConnectionString, new BlobClientOptions());

    internal static TableServiceClient CreateTableServiceClient(AzureBitsStorageOptions options) =>
        string.IsNullOrWhiteSpace(options.ConnectionString)
            ? new TableServiceClient(options.TableServiceUri, Credential(options), new TableClientOptions())
            : new TableServiceClient(options.ConnectionString, new TableClientOptions());

    internal static QueueServiceClient CreateQueueServiceClient(AzureBitsStorageOptions options) =>
        string.IsNullOrWhiteSpace(options.ConnectionString)
            ? new QueueServiceClient(
                options.QueueServiceUri ?? new Uri(options.BlobServiceUri!.AbsoluteUri.Replace(".blob.", ".queue.", StringComparison.Ordinal)),
                Credential(options),
                new QueueClientOptions())
            : new QueueServiceClient(options.ConnectionString, new QueueClientOptions());

    private static TokenCredential Credential(AzureBitsStorageOptions options) =>
        string.IsNullOrWhiteSpace(options.ManagedIdentityClientId)
            ? new DefaultAzureCredential()
            : new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(options.ManagedIdentityClientId));
}

/// <summary>Creates the table and containers at start-up when <c>BitsStorage:CreateResources</c> is true.</summary>
internal sealed class AzureBitsStorageInitializer(AzureBitsUploadStore store, IOptions<AzureBitsStorageOptions> options, BitsProtocolHandler handler) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) =>
        options.Value.CreateResources ? store.InitializeAsync(handler.Areas.Areas.Select(a => a.Container), cancellationToken) : Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
