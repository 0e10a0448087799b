using Bits.AspNetCore;
using Bits.Testing;
using Microsoft.Azure.Functions.Worker;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Time.Testing;

namespace BitsFunctions.Tests;

/// <summary>The janitor in the Functions app: its timer function runs it, the hosted service stays idle.</summary>
public class JanitorFunctionTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task TimerFunction_RemovesIdleSessions_AndTheHostedServiceIsIdle()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var settings = storage.Settings();
        settings["Bits:SessionTimeout"] = "00:30:00";
        await using var app = await FunctionApp.StartAsync(settings, services => services.AddSingleton<TimeProvider>(time));
        const string target = "/uploads/idle.bin";
        var id = await app.CreateSessionAsync(target);

        time.Advance(TimeSpan.FromMinutes(31));
        await ActivatorUtilities.CreateInstance<BitsJanitorFunction>(app.Services).RunAsync(new TimerInfo(), TestContext.Current.CancellationToken);
        var close = await app.PacketAsync(target, "Close-Session", id);

        var hosted = app.Services.GetServices<IHostedService>().OfType<BitsJanitorHostedService>().Single();
        Assert.False(hosted.IsActive);
        close.AssertAck(500);
        Assert.Equal("0x8020001F", close.Headers["BITS-Error-Code"].ToString());
        Assert.Equal(0, await storage.SessionRowCountAsync());
        Assert.Equal(0, await storage.StagedBlobCountAsync());
    }
}
