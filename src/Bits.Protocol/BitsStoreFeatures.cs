using Microsoft.Extensions.Options;

namespace Bits.Protocol;

/// <summary>
/// The start-up check that the registered store supports every feature a configured area uses. The handler finds a
/// store's optional capabilities (<see cref="IBitsReplyStore"/>, <see cref="IBitsExpiryStore"/>,
/// <see cref="IBitsEventStore"/>) per request; without this check a missing one would show only then, as a silent no-op
/// or a 500. Validated on start like the options (<see cref="BitsProtocolServiceCollectionExtensions.AddBitsProtocol"/>);
/// it binds no settings.
/// </summary>
public sealed class BitsStoreFeatures
{
    /// <summary>
    /// One line per area and feature that <paramref name="store"/> (or a missing <paramref name="sink"/>) cannot serve,
    /// naming the area, the setting that asks for the feature and what is missing; empty when every feature is served.
    /// </summary>
    public static IReadOnlyList<string> Missing(BitsServerOptions options, IBitsUploadStore store, IBitsCompletionSink? sink)
    {
        var storeType = store.GetType().Name;
        var missing = new List<string>();
        foreach (var area in new BitsAreaCatalog(options).Areas)
        {
            if (area.NotificationType != BitsNotificationType.None && store is not IBitsReplyStore)
            {
                missing.Add($"Area '{area.Name}': upload-reply (NotificationType {area.NotificationType}) needs a store that implements IBitsReplyStore; {storeType} does not.");
            }

            // The limit counts an authenticated user's sessions: an area that authenticates nobody never applies it.
            if (area.MaxSessionsPerUser > 0 && area.Authentication is { Basic: true } or { Bearer: true } && store is not IBitsExpiryStore)
            {
                missing.Add($"Area '{area.Name}': the per-user session limit (MaxSessionsPerUser {area.MaxSessionsPerUser}, with authentication) needs a store that implements IBitsExpiryStore; {storeType} does not.");
            }

            if (!string.IsNullOrEmpty(area.CompletionQueue))
            {
                if (sink is null)
                {
                    missing.Add($"Area '{area.Name}': completion events (CompletionQueue '{area.CompletionQueue}') need an IBitsCompletionSink; none is registered.");
                }

                if (store is not IBitsEventStore)
                {
                    missing.Add($"Area '{area.Name}': completion events (CompletionQueue '{area.CompletionQueue}') are delivered at least once only by a store that implements IBitsEventStore; {storeType} does not.");
                }
            }
        }

        return missing;
    }

    /// <summary>What the session janitor misses in <paramref name="store"/> when it is enabled; null when nothing.</summary>
    public static string? MissingForJanitor(BitsJanitorOptions janitor, IBitsUploadStore store) =>
        janitor.Enabled && store is not IBitsExpiryStore
            ? $"Bits:Janitor: session expiry (Enabled) needs a store that implements IBitsExpiryStore; {store.GetType().Name} does not (set Bits:Janitor:Enabled false to run without expiry)."
            : null;
}

/// <summary>Fails start-up with <see cref="BitsStoreFeatures.Missing"/>.</summary>
internal sealed class BitsStoreFeaturesValidator(IBitsUploadStore store, IBitsCompletionSink? sink, IOptions<BitsServerOptions> options)
    : IValidateOptions<BitsStoreFeatures>
{
    public ValidateOptionsResult Validate(string? name, BitsStoreFeatures features)
    {
        var missing = BitsStoreFeatures.Missing(options.Value, store, sink);
        return missing.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(missing);
    }
}

/// <summary>Fails start-up with <see cref="BitsStoreFeatures.MissingForJanitor"/> (registered with the janitor).</summary>
public sealed class BitsJanitorStoreValidator(IBitsUploadStore store, IOptions<BitsJanitorOptions> janitor) : IValidateOptions<BitsStoreFeatures>
{
    public ValidateOptionsResult Validate(string? name, BitsStoreFeatures features) =>
        BitsStoreFeatures.MissingForJanitor(janitor.Value, store) is { } missing ? ValidateOptionsResult.Fail(missing) : ValidateOptionsResult.Success;
}
