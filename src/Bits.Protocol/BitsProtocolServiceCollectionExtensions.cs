using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bits.Protocol;

/// <summary>Registration of the protocol core.</summary>
public static class BitsProtocolServiceCollectionExtensions
{
    /// <summary>
    /// Registers <see cref="BitsProtocolHandler"/> with its options (section <c>Bits</c>, validated at start-up), the
    /// clock, the back-end notifier and the start-up check that the store supports every feature the configured areas
    /// use (<see cref="BitsStoreFeatures"/>). The store itself (<see cref="IBitsUploadStore"/>, and optionally an
    /// <see cref="IBitsCompletionSink"/> and <see cref="IBitsDefaultContainer"/>) is registered by its own package.
    /// </summary>
    public static IServiceCollection AddBitsProtocol(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<BitsServerOptions>().Bind(configuration.GetSection(BitsServerOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<BitsServerOptions>>(sp =>
            new BitsServerOptionsValidator(sp.GetService<IBitsDefaultContainer>()?.DefaultContainer, sp.GetRequiredService<IOptions<BitsHostLimits>>()));
        services.AddOptions<BitsStoreFeatures>().ValidateOnStart();
        services.AddSingleton<IValidateOptions<BitsStoreFeatures>>(sp => new BitsStoreFeaturesValidator(
            sp.GetRequiredService<IBitsUploadStore>(), sp.GetService<IBitsCompletionSink>(), sp.GetRequiredService<IOptions<BitsServerOptions>>()));
        services.TryAddSingleton(sp => new BitsNotifier(
            // One client for the process; pooled connections are recycled so DNS changes of the back-end are seen, and
            // redirects are never followed (rule 6a.14).
            new HttpClient(BitsNotifier.CreateHandler()) { Timeout = Timeout.InfiniteTimeSpan },
            sp.GetRequiredService<ILogger<BitsNotifier>>(),
            sp.GetRequiredService<IOptions<BitsServerOptions>>().Value.MaxReplyBytes));
        services.TryAddSingleton<BitsProtocolHandler>();
        return services;
    }
}
