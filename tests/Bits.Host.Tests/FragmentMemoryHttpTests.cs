using Bits.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Bits.Host.Tests;

/// <summary>Issue 12, point 5: fragment memory is given back once the bytes are stored, before the back-end is notified.</summary>
public class FragmentMemoryHttpTests(AzuriteFixture azurite)
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task FinalFragmentsWaitingForALateBackEnd_DoNotHoldMemory_FromAnUnrelatedFragment()
    {
        const int Big = 16 * 1024 * 1024;
        const int Count = 4; // 4 x 16 MiB = the default 64 MiB of Bits:FragmentMemoryBytes
        var arrived = 0;
        var allArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        // A back-end that answers only when the test says so.
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        await using var backEnd = builder.Build();
        backEnd.MapPost("/hold", async (HttpContext context) =>
        {
            if (Interlocked.Increment(ref arrived) == Count)
            {
                allArrived.TrySetResult();
            }

            await release.Task.WaitAsync(context.RequestAborted);
            context.Response.Headers["BITS-Static-Response-URL"] = "https://replies.example/static/1";
            return Results.Ok();
        });
        await backEnd.StartAsync(Ct);
        var backEndRoot = backEnd.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First().TrimEnd('/');

        var storage = StorageNames.Unique(azurite);
        await using var host = await TestHost.StartAsync(storage, new Dictionary<string, string?>
        {
            ["Bits:Areas:slow:PathPrefix"] = "slow",
            ["Bits:Areas:slow:BlobPrefix"] = "slow/",
            ["Bits:Areas:slow:NotificationType"] = "ByReference",
            ["Bits:Areas:slow:NotificationUrl"] = backEndRoot + "/hold",
        });
        using var http = new HttpClient { Timeout = Timeout.InfiniteTimeSpan };
        var file = new byte[Big];
        var finals = new List<Task<HttpResponseMessage>>();
        try
        {
            for (var i = 0; i < Count; i++)
            {
                var url = host.Url($"slow/big{i}.bin");
                var id = await http.CreateSessionAsync(url);
                finals.Add(http.SendAsync(HttpBits.Fragment(url, id, file, 0, Big), Ct));
            }

            // Every final fragment is stored and its back-end call is pending.
            await allArrived.Task.WaitAsync(Ct);

            var small = new byte[1024];
            var smallId = await http.CreateSessionAsync(host.Url("small.bin"));
            using var smallAck = await http.SendAsync(HttpBits.Fragment(host.Url("small.bin"), smallId, small, 0, small.Length), Ct);

            smallAck.AssertAck(200);
        }
        finally
        {
            release.TrySetResult();
        }

        foreach (var final in finals)
        {
            using var ack = await final;
            ack.AssertAck(200);
        }
    }
}
