using Bits.AspNetCore;
using Bits.Protocol;
using Bits.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Bits.Host.Tests;

/// <summary>Start-up refuses a key under <c>Bits:</c> or <c>BitsStorage:</c> that no option binds (issue 17, point 5).</summary>
public class SettingsCheckTests(AzuriteFixture azurite)
{
    [Theory]
    [InlineData("Bits:Authentcation:AllowAnonymous", "false")]
    [InlineData("Bits:Areas:secure:Authentcation:AllowAnonymous", "false")]
    [InlineData("Bits:Areas:secure:Authentication:Basics", "true")]
    [InlineData("Bits:Auth:BasicUsers:alice:Hash", "x")]
    [InlineData("Bits:MaxFragmentByte", "5120")]
    [InlineData("Bits:Janitor:HostedService", "false")] // removed: the Functions app turns the hosted service off in code
    [InlineData("Bits:Telemetry:Consol", "true")]
    [InlineData("BitsStorage:UploadContainr", "other")]
    public async Task Startup_KeyNoOptionBinds_FailsNamingIt(string key, string value)
    {
        var storage = StorageNames.Unique(azurite);
        var settings = new Dictionary<string, string?>
        {
            ["Bits:Areas:secure:PathPrefix"] = "secure",
            ["Bits:Areas:secure:BlobPrefix"] = "secure/",
            [key] = value,
        };

        var refused = await Assert.ThrowsAnyAsync<OptionsValidationException>(() => TestHost.StartAsync(storage, settings));

        Assert.Contains($"Unknown setting '{key}'", refused.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Startup_AreaDictionaryAndListKeys_AreAccepted()
    {
        var storage = StorageNames.Unique(azurite);
        var settings = new Dictionary<string, string?>
        {
            ["Bits:Areas:Secure:pathprefix"] = "secure",
            ["Bits:Areas:Secure:BlobPrefix"] = "secure/",
            ["Bits:Areas:Secure:Authentication:AllowAnonymous"] = "false",
            ["Bits:Areas:Secure:Authentication:Basic"] = "true",
            ["Bits:Areas:Secure:Authentication:AllowedUsers:0"] = "basic:alice",
            ["Bits:Areas:Secure:MaxSessionsPerUser"] = "3",
            ["Bits:Auth:BasicUsers:alice"] = BitsPasswordHasher.Hash("alice-pw", 1000),
            ["Bits:Auth:Bearer:ValidIssuers:0"] = "https://issuer.example/",
            ["Bits:ForwardedHeaders:KnownProxies:0"] = "127.0.0.1",
            ["Bits:Telemetry:Console"] = "false",
            ["BITS:JANITOR:INTERVAL"] = "00:10:00",
        };

        await using var host = await TestHost.StartAsync(storage, settings);

        Assert.Equal(3, host.Services.GetRequiredService<IOptions<BitsServerOptions>>().Value.Areas["secure"].MaxSessionsPerUser);
    }
}
