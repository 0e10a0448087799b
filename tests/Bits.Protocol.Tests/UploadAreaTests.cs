using Bits.Testing;

namespace Bits.Protocol.Tests;

public class UploadAreaTests
{
    private static BitsServerOptions Options(Action<BitsServerOptions>? configure = null)
    {
        var options = new BitsServerOptions();
        options.Areas["reports"] = new BitsUploadAreaOptions { PathPrefix = "reports", Container = "reports", BlobPrefix = "incoming/", MaxUploadBytes = 1000 };
        options.Areas["finance"] = new BitsUploadAreaOptions { PathPrefix = "reports/finance", Container = "finance", AllowOverwrites = true };
        options.Areas["closed"] = new BitsUploadAreaOptions { PathPrefix = "closed", BlobPrefix = "closed/", Enabled = false };
        configure?.Invoke(options);
        return options;
    }

    private static async Task<BitsResponse> UploadAsync(HandlerHarness harness, string path, byte[] file)
    {
        var id = await harness.CreateSessionAsync(path);
        var fragment = await harness.FragmentAsync(path, id, file, 0, file.Length);
        AckAssert.IsAck(fragment, 200);
        return await harness.SendAsync(BitsRequests.Close(path, id));
    }

    [Fact]
    public async Task Area_PathPrefix_MapsToItsContainerAndBlobPrefix()
    {
        var harness = new HandlerHarness(Options());
        var file = SeededStream.Bytes(500);

        AckAssert.IsAck(await UploadAsync(harness, "/reports/2026/q4.bin", file), 200);

        Assert.Equal(file, harness.Store.Published[InMemoryBitsUploadStore.Key("reports", "incoming/2026/q4.bin")]);
    }

    [Fact]
    public async Task Area_LongestPrefixWins()
    {
        var harness = new HandlerHarness(Options());
        var file = SeededStream.Bytes(2000);

        AckAssert.IsAck(await UploadAsync(harness, "/reports/finance/ledger.bin", file), 200);

        Assert.Equal(file, harness.Store.Published[InMemoryBitsUploadStore.Key("finance", "ledger.bin")]);
    }

    [Fact]
    public async Task Area_PrefixMustMatchWholeSegments()
    {
        var harness = new HandlerHarness(Options());
        var file = SeededStream.Bytes(10);

        AckAssert.IsAck(await UploadAsync(harness, "/reportsX/a.bin", file), 200);

        Assert.Equal(file, harness.Store.Published["reportsX/a.bin"]);
    }

    [Fact]
    public async Task Area_Disabled_AnswersCreateSessionAndPingWith501AccessDenied()
    {
        var harness = new HandlerHarness(Options());

        AckAssert.IsError(await harness.SendAsync(BitsRequests.CreateSession("/closed/a.bin")), 501, BitsHResults.E_ACCESSDENIED);
        AckAssert.IsError(await harness.SendAsync(BitsRequests.Ping("/closed/a.bin")), 501, BitsHResults.E_ACCESSDENIED);
        AckAssert.IsAck(await harness.SendAsync(BitsRequests.Ping("/open/a.bin")), 200);
    }

    [Fact]
    public async Task DefaultArea_Disabled_OnlyConfiguredAreasAcceptUploads()
    {
        var harness = new HandlerHarness(Options(o => o.Enabled = false));

        AckAssert.IsError(await harness.SendAsync(BitsRequests.CreateSession("/elsewhere/a.bin")), 501, BitsHResults.E_ACCESSDENIED);
        AckAssert.IsAck(await harness.SendAsync(BitsRequests.CreateSession("/reports/a.bin")), 200);
    }

    [Fact]
    public async Task Area_MaxUploadBytes_OverridesTheDefault()
    {
        var harness = new HandlerHarness(Options());
        var id = await harness.CreateSessionAsync("/reports/big.bin");

        var ack = await harness.FragmentAsync("/reports/big.bin", id, SeededStream.Bytes(1001), 0, 10);

        AckAssert.IsError(ack, 500, BitsHResults.BG_E_TOO_LARGE);
    }

    [Fact]
    public async Task Area_AllowOverwrites_OverridesTheDefault()
    {
        var harness = new HandlerHarness(Options());
        harness.Store.Seed("ledger.bin", [1], container: "finance");
        harness.Store.Seed("incoming/a.bin", [1], container: "reports");

        AckAssert.IsAck(await harness.SendAsync(BitsRequests.CreateSession("/reports/finance/ledger.bin")), 200);
        AckAssert.IsError(await harness.SendAsync(BitsRequests.CreateSession("/reports/a.bin")), 403, BitsHResults.E_ACCESSDENIED);
    }

    [Fact]
    public async Task Session_UsedUnderAnotherAreasPath_IsNotFound()
    {
        var harness = new HandlerHarness(Options());
        var id = await harness.CreateSessionAsync("/reports/finance/x.bin");

        var ack = await harness.FragmentAsync("/reports/x.bin", id, SeededStream.Bytes(10), 0, 10);

        AckAssert.IsError(ack, 500, BitsHResults.BG_E_SESSION_NOT_FOUND);
    }

    [Theory]
    [InlineData("bad name", "x", null, BitsNotificationType.None, null, "an area name")]
    [InlineData("a", "x/../y", null, BitsNotificationType.None, null, "PathPrefix")]
    [InlineData("a", "x", "Bad_Container", BitsNotificationType.None, null, "Container")]
    [InlineData("a", "x", null, BitsNotificationType.ByValue, null, "NotificationUrl is required")]
    [InlineData("a", "x", null, BitsNotificationType.ByReference, "ftp://backend/x", "http(s)")]
    [InlineData("a", "x", null, BitsNotificationType.None, "06:00", "NotificationTimeout")]
    public void Validator_RejectsBadAreas(string name, string prefix, string? container, BitsNotificationType type, string? urlOrTimeout, string expected)
    {
        var options = new BitsServerOptions();
        var area = new BitsUploadAreaOptions { PathPrefix = prefix, Container = container, NotificationType = type };
        if (urlOrTimeout is { } value && TimeSpan.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var timeout))
        {
            area.NotificationTimeout = timeout;
        }
        else
        {
            area.NotificationUrl = urlOrTimeout;
        }

        options.Areas[name] = area;

        var result = new BitsServerOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        Assert.Contains(expected, result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validator_RejectsTwoAreasWithOnePrefix()
    {
        var options = new BitsServerOptions();
        options.Areas["a"] = new BitsUploadAreaOptions { PathPrefix = "same" };
        options.Areas["b"] = new BitsUploadAreaOptions { PathPrefix = "/same/" };

        var result = new BitsServerOptionsValidator().Validate(null, options);

        Assert.Contains("already used by area", result.FailureMessage, StringComparison.Ordinal);
    }

    [Fact]
    public void Validator_AcceptsTheSampleAreas()
    {
        Assert.True(new BitsServerOptionsValidator().Validate(null, Options()).Succeeded);
    }

    [Fact]
    public void NotificationTimeout_DefaultsToThreeMinutes()
    {
        // Rule 6a.14: the old default (5 minutes) equalled the client's response timer, so a slow back-end's Ack came too late.
        Assert.Equal(TimeSpan.FromMinutes(3), new BitsUploadAreaOptions().NotificationTimeout);
    }

    [Theory]
    [InlineData("00:04:00", true)]
    [InlineData("00:04:01", false)]
    [InlineData("00:05:00", false)]
    public void NotificationTimeout_OnTheSelfHostedServer_IsAtMostFourMinutes(string timeout, bool valid)
    {
        var options = new BitsServerOptions();
        options.Areas["reply"] = new BitsUploadAreaOptions
        {
            PathPrefix = "reply", BlobPrefix = "reply/", NotificationType = BitsNotificationType.ByValue, NotificationUrl = "http://127.0.0.1:9/b",
            NotificationTimeout = TimeSpan.Parse(timeout, System.Globalization.CultureInfo.InvariantCulture),
        };

        var result = new BitsServerOptionsValidator().Validate(null, options);

        Assert.Equal(valid, result.Succeeded);
    }

    [Theory]
    [InlineData(5119, false)]
    [InlineData(5120, true)]
    [InlineData(1, false)]
    public void MaxFragmentBytes_BelowFiveKiB_IsRefusedAtStartUp(long max, bool valid)
    {
        // Rule 6a.16: Windows never shrinks a fragment below 5 KB after a 413, so a smaller limit stalls every upload.
        var result = new BitsServerOptionsValidator().Validate(null, new BitsServerOptions { MaxFragmentBytes = max });

        Assert.Equal(valid, result.Succeeded);
        if (!valid)
        {
            Assert.Contains("Bits:MaxFragmentBytes must be between 5120", result.FailureMessage, StringComparison.Ordinal);
        }
    }
}
