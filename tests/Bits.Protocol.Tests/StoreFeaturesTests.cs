using Bits.Testing;

namespace Bits.Protocol.Tests;

/// <summary>
/// The start-up check (<see cref="BitsStoreFeatures"/>): every feature a configured area uses must be served by the
/// registered store, or start-up names the area and the feature (the Kestrel host's refusal: StoreFeatureStartupTests).
/// </summary>
public class StoreFeaturesTests
{
    private static BitsServerOptions AreasUsingEveryFeature()
    {
        var options = new BitsServerOptions();
        options.Areas["reply"] = new BitsUploadAreaOptions { PathPrefix = "reply", BlobPrefix = "reply/", NotificationType = BitsNotificationType.ByReference, NotificationUrl = "http://127.0.0.1:9/never" };
        options.Areas["quota"] = new BitsUploadAreaOptions { PathPrefix = "quota", BlobPrefix = "quota/", MaxSessionsPerUser = 3, Authentication = new() { Basic = true } };
        options.Areas["events"] = new BitsUploadAreaOptions { PathPrefix = "events", BlobPrefix = "events/", CompletionQueue = "done" };
        return options;
    }

    [Fact]
    public void StoreWithEveryCapability_AndASink_MissesNothing()
    {
        Assert.Empty(BitsStoreFeatures.Missing(AreasUsingEveryFeature(), new InMemoryBitsUploadStore(), new NullSink()));
    }

    [Fact]
    public void BareStore_WithoutASink_MissesEveryFeature_NamingTheAreaAndTheCapability()
    {
        var missing = BitsStoreFeatures.Missing(AreasUsingEveryFeature(), BareBitsUploadStore.Create(), sink: null);

        Assert.Collection(
            missing.Order(StringComparer.Ordinal),
            line => Assert.Matches("^Area 'events': completion events \\(CompletionQueue 'done'\\) are delivered at least once only by a store that implements IBitsEventStore", line),
            line => Assert.Matches("^Area 'events': completion events \\(CompletionQueue 'done'\\) need an IBitsCompletionSink", line),
            line => Assert.Matches("^Area 'quota': the per-user session limit \\(MaxSessionsPerUser 3, with authentication\\) needs a store that implements IBitsExpiryStore", line),
            line => Assert.Matches("^Area 'reply': upload-reply \\(NotificationType ByReference\\) needs a store that implements IBitsReplyStore", line));
    }

    [Fact]
    public void BareStore_ServesAreasThatUseNoOptionalFeature()
    {
        var options = new BitsServerOptions();
        options.Areas["plain"] = new BitsUploadAreaOptions { PathPrefix = "plain", BlobPrefix = "plain/" };

        Assert.Empty(BitsStoreFeatures.Missing(options, BareBitsUploadStore.Create(), sink: null));
    }

    [Fact]
    public void DefaultArea_InheritsTheTopLevelSettings_AndIsCheckedToo()
    {
        var options = new BitsServerOptions { MaxSessionsPerUser = 2, CompletionQueue = "done" };
        options.Authentication.Bearer = true;

        var missing = BitsStoreFeatures.Missing(options, BareBitsUploadStore.Create(), new NullSink());

        Assert.Equal(2, missing.Count);
        Assert.All(missing, line => Assert.StartsWith($"Area '{BitsAreaCatalog.DefaultAreaName}': ", line, StringComparison.Ordinal));
    }

    [Fact]
    public void PerUserLimit_WithoutAuthentication_NeedsNoExpiryStore()
    {
        // The default limit (50) applies only to authenticated users: an anonymous area never counts sessions.
        Assert.Empty(BitsStoreFeatures.Missing(new BitsServerOptions(), BareBitsUploadStore.Create(), sink: null));
    }

    [Fact]
    public void EnabledJanitor_NeedsAnExpiryStore_ADisabledOneDoesNot()
    {
        Assert.Contains("IBitsExpiryStore", BitsStoreFeatures.MissingForJanitor(new BitsJanitorOptions(), BareBitsUploadStore.Create()), StringComparison.Ordinal);
        Assert.Null(BitsStoreFeatures.MissingForJanitor(new BitsJanitorOptions { Enabled = false }, BareBitsUploadStore.Create()));
        Assert.Null(BitsStoreFeatures.MissingForJanitor(new BitsJanitorOptions(), new InMemoryBitsUploadStore()));
    }

    private sealed class NullSink : IBitsCompletionSink
    {
        public Task PublishAsync(string queue, BitsCompletionEvent completion, CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
