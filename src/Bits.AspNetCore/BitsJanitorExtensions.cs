using Bits.Protocol;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Bits.AspNetCore;

/// <summary>Registration of the session-expiry janitor.</summary>
public static class BitsJanitorExtensions
{
    /// <summary>
    /// Registers <see cref="BitsSessionJanitor"/> with its options (section <c>Bits:Janitor</c>, validated at start-up)
    /// and the <see cref="BitsJanitorHostedService"/> that runs it every <c>Bits:Janitor:Interval</c>. The hosted service
    /// does nothing when <c>Bits:Janitor:Enabled</c> is false, or when the host turns
    /// <see cref="BitsJanitorSchedule.HostedService"/> off in code: the Functions app runs the same janitor from a timer
    /// trigger. An enabled janitor needs a store that implements <see cref="IBitsExpiryStore"/>: start-up fails without
    /// one (<see cref="BitsStoreFeatures.MissingForJanitor"/>).
    /// </summary>
    internal static IServiceCollection AddBitsJanitor(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<BitsJanitorOptions>().Bind(configuration.GetSection(BitsJanitorOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BitsJanitorOptions>, BitsJanitorOptionsValidator>());
        services.AddOptions<BitsStoreFeatures>().ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BitsStoreFeatures>, BitsJanitorStoreValidator>());
        services.AddSingleton(new BitsSettingsSection(BitsJanitorOptions.SectionName, typeof(BitsJanitorOptions)));
        services.TryAddSingleton<BitsSessionJanitor>();
        services.TryAddSingleton<BitsJanitorHostedService>();
        services.AddHostedService(sp => sp.GetRequiredService<BitsJanitorHostedService>());
        return services;
    }
}
