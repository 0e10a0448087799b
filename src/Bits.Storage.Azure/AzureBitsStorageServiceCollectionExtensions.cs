using Azure.Core;
using Azure.Data.Tables;
using Azure.Identity;
using Azure.Storage.Blobs;
using Azure.Storage.Queues;
using Bits.Protocol;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Bits.Storage.Azure;

/// <summary>Registration of the Azure store.</summary>
public static class AzureBitsStorageServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="AzureBitsUploadStore"/> as the upload store (and as every optional store capability it
    /// implements), the queue completion sink, the Blob, Table and Queue service clients (created once; with service
    /// URIs they share one credential) and the initializer that creates the table and containers at start-up, with the
    /// options of section <c>BitsStorage</c>, validated at start-up.
    /// </summary>
    public static IServiceCollection AddAzureBitsStorage(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<AzureBitsStorageOptions>().Bind(configuration.GetSection(AzureBitsStorageOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AzureBitsStorageOptions>, AzureBitsStorageOptionsValidator>());
        services.AddSingleton(new BitsSettingsSection(AzureBitsStorageOptions.SectionName, typeof(AzureBitsStorageOptions)));
        services.TryAddSingleton<IBitsDefaultContainer>(StorageOptions);

        // Created only when a client uses service URIs (a connection string carries its own key).
        services.TryAddSingleton(sp => Credential(StorageOptions(sp)));
        services.TryAddSingleton(sp => CreateBlobServiceClient(StorageOptions(sp), () => sp.GetRequiredService<TokenCredential>()));
        services.TryAddSingleton(sp => CreateTableServiceClient(StorageOptions(sp), () => sp.GetRequiredService<TokenCredential>()));
        services.TryAddSingleton(sp => CreateQueueServiceClient(StorageOptions(sp), () => sp.GetRequiredService<TokenCredential>()));

        services.TryAddSingleton<AzureBitsUploadStore>();
        services.TryAddSingleton<IBitsUploadStore>(sp => sp.GetRequiredService<AzureBitsUploadStore>());
        services.TryAddSingleton<IBitsReplyStore>(sp => sp.GetRequiredService<AzureBitsUploadStore>());
        services.TryAddSingleton<IBitsExpiryStore>(sp => sp.GetRequiredService<AzureBitsUploadStore>());
        services.TryAddSingleton<IBitsEventStore>(sp => sp.GetRequiredService<AzureBitsUploadStore>());
        services.TryAddSingleton<IBitsCompletionSink, AzureQueueCompletionSink>();
        services.AddHostedService<AzureBitsStorageInitializer>();
        return services;
    }

    internal static BlobServiceClient CreateBlobServiceClient(AzureBitsStorageOptions options, Func<TokenCredential> credential) =>
        string.IsNullOrWhiteSpace(options.ConnectionString)
            ? new BlobServiceClient(options.BlobServiceUri, credential(), new BlobClientOptions())
            : new BlobServiceClient(options.ConnectionString, new BlobClientOptions());

    internal static TableServiceClient CreateTableServiceClient(AzureBitsStorageOptions options, Func<TokenCredential> credential) =>
        string.IsNullOrWhiteSpace(options.ConnectionString)
            ? new TableServiceClient(options.TableServiceUri, credential(), new TableClientOptions())
            : new TableServiceClient(options.ConnectionString, new TableClientOptions());

    internal static QueueServiceClient CreateQueueServiceClient(AzureBitsStorageOptions options, Func<TokenCredential> credential) =>
        string.IsNullOrWhiteSpace(options.ConnectionString)
            ? new QueueServiceClient(
                options.QueueServiceUri ?? new Uri(options.BlobServiceUri!.AbsoluteUri.Replace(".blob.", ".queue.", StringComparison.Ordinal)),
                credential(),
                new QueueClientOptions())
            : new QueueServiceClient(options.ConnectionString, new QueueClientOptions());

    private static AzureBitsStorageOptions StorageOptions(IServiceProvider services) =>
        services.GetRequiredService<IOptions<AzureBitsStorageOptions>>().Value;

    private static TokenCredential Credential(AzureBitsStorageOptions options) =>
        string.IsNullOrWhiteSpace(options.ManagedIdentityClientId)
            ? new DefaultAzureCredential()
            : new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(options.ManagedIdentityClientId));
}

/// <summary>Creates the table and containers (every area's) at start-up when <c>BitsStorage:CreateResources</c> is true.</summary>
internal sealed class AzureBitsStorageInitializer(AzureBitsUploadStore store, IOptions<AzureBitsStorageOptions> options, IOptions<BitsServerOptions> serverOptions) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) =>
        options.Value.CreateResources
            ? store.InitializeAsync(new BitsAreaCatalog(serverOptions.Value).Areas.Select(a => a.Container), cancellationToken)
            : Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
