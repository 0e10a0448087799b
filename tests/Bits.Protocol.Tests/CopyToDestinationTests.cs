using System.Net;
using Bits.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using MsOptions = Microsoft.Extensions.Options.Options;

namespace Bits.Protocol.Tests;

/// <summary>
/// BITS-Copy-File-To-Destination over the in-memory store, on a fake clock: the copy runs in slices of at most
/// <see cref="BitsServerOptions.CopyTimeBudget"/> per request, Close-Session answers 503 + BG_E_HTTP_ERROR_503 until it
/// is done, and each request continues where the last stopped.
/// </summary>
public class CopyToDestinationTests
{
    private const string Path = "/reply/file.bin";
    private static readonly Uri UploadUrl = new("https://bits.example/uploads/reply/file.bin");
    private static readonly TimeSpan Budget = TimeSpan.FromSeconds(25);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Copy_NoRequestWaitsLongerThanTheBudget_CloseAnswers503UntilDone_AndNoRangeIsCopiedTwice()
    {
        var rig = new Rig();
        var file = SeededStream.Bytes(5000);
        rig.Store.CopyRangeBytes = 1000;
        var id = await rig.CreateAsync();
        AckAssert.IsAck(await rig.SendAsync(BitsRequests.Fragment(Path, id, file, 0, 2500, url: UploadUrl)), 200);

        // The back-end's 200 starts the copy on the final Fragment: 1 range, then the budget runs out.
        var final = await rig.WithinBudgetAsync(1, BitsRequests.Fragment(Path, id, file, 2500, 2500, url: UploadUrl));
        var first = await rig.WithinBudgetAsync(2, BitsRequests.Close(Path, id));
        var publishedEarly = rig.Store.Published.Count;
        rig.Gate.Allow(int.MaxValue);
        var second = await rig.SendAsync(BitsRequests.Close(Path, id));

        AckAssert.IsAck(final, 200);
        Assert.NotNull(final.GetHeader(BitsHeaders.ReplyUrl));
        Assert.Equal(1, rig.BackEndCalls);
        AckAssert.IsError(first, 503, BitsHResults.BG_E_HTTP_ERROR_503);
        Assert.Equal(0, publishedEarly);
        AckAssert.IsAck(second, 200);
        Assert.Equal(file, Assert.Single(rig.Store.Published).Value);
        Assert.Equal(5, rig.Store.CopiedRanges); // 1 + 2 + 2: each range once
        Assert.Equal(0, rig.Store.StagedSessionCount);
    }

    [Fact]
    public async Task Copy_DoneWithinTheBudget_ClosePublishesAtOnce()
    {
        var rig = new Rig();
        var file = SeededStream.Bytes(3000);
        rig.Store.CopyRangeBytes = 1000;
        rig.Gate.Allow(int.MaxValue);
        var id = await rig.CreateAsync();

        AckAssert.IsAck(await rig.SendAsync(BitsRequests.Fragment(Path, id, file, 0, file.Length, url: UploadUrl)), 200);
        AckAssert.IsAck(await rig.SendAsync(BitsRequests.Close(Path, id)), 200);

        Assert.Equal(file, Assert.Single(rig.Store.Published).Value);
        Assert.Equal(3, rig.Store.CopiedRanges);
    }

    /// <summary>Handler and in-memory store on one fake clock, an upload-reply area whose back-end asks for the copy.</summary>
    private sealed class Rig
    {
        public Rig()
        {
            var options = new BitsServerOptions { CopyTimeBudget = Budget };
            options.Areas["reply"] = new BitsUploadAreaOptions
            {
                PathPrefix = "reply",
                BlobPrefix = "reply/",
                NotificationType = BitsNotificationType.ByValue,
                NotificationUrl = "http://127.0.0.1/backend",
            };
            Store = new InMemoryBitsUploadStore(Time) { CopyRangeGate = Gate.PassAsync };
            var notifier = new BitsNotifier(new HttpClient(new BackEnd(this)), NullLogger<BitsNotifier>.Instance);
            Handler = new BitsProtocolHandler(Store, MsOptions.Create(options), Time, NullLogger<BitsProtocolHandler>.Instance, notifier);
        }

        public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 11, 25, 0, 0, 0, TimeSpan.Zero));

        public CopyGate Gate { get; } = new();

        public InMemoryBitsUploadStore Store { get; }

        public BitsProtocolHandler Handler { get; }

        public int BackEndCalls { get; set; }

        public Task<BitsResponse> SendAsync(BitsRequest request) => Handler.HandleAsync(request, Ct);

        public Task<BitsResponse> WithinBudgetAsync(int ranges, BitsRequest request) => Gate.WithinBudgetAsync(ranges, () => SendAsync(request), Time, Budget, Ct);

        public async Task<string> CreateAsync()
        {
            var ack = await SendAsync(BitsRequests.CreateSession(Path));
            AckAssert.IsAck(ack, 200);
            return ack.GetHeader(BitsHeaders.SessionId)!;
        }
    }

    /// <summary>The server application, in process: 200 with BITS-Copy-File-To-Destination and a small reply.</summary>
    private sealed class BackEnd(Rig rig) : HttpMessageHandler
    {
        protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            rig.BackEndCalls++;
            var response = new HttpResponseMessage(HttpStatusCode.OK) { Content = new StringContent("ok") };
            response.Headers.TryAddWithoutValidation(BitsNotifier.CopyFileToDestinationHeader, "1");
            return Task.FromResult(response);
        }
    }
}
