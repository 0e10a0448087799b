namespace Bits.Client.Tests.Infrastructure;

/// <summary>A model server, the fake handler in front of it and a client with test-friendly options (no retry delay).</summary>
public sealed class TestRig
{
    public static readonly Uri Url = new("https://bits.example.test/upload/report.bin");

    public TestRig(Action<BitsClientOptions>? configure = null)
    {
        Handler = new FakeBitsHandler(Server.Respond);
        Options = new BitsClientOptions { RetryDelay = TimeSpan.Zero, InitialFragmentBytes = 16 * 1024, MinFragmentBytes = 1024 };
        configure?.Invoke(Options);
        Client = new BitsUploadClient(new HttpClient(Handler), Options);
    }

    public ModelBitsServer Server { get; } = new();

    public FakeBitsHandler Handler { get; }

    public BitsClientOptions Options { get; }

    public BitsUploadClient Client { get; }

    public static CancellationToken Ct => TestContext.Current.CancellationToken;

    public static byte[] RandomBytes(int length, int seed = 42)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    public Task<BitsUploadResult> UploadAsync(byte[] data, string? contentName = null, IProgress<long>? progress = null)
        => Client.UploadAsync(Url, new MemoryStream(data, writable: false), contentName, progress, Ct);

    /// <summary>A client over a purely scripted responder (no model).</summary>
    public static (BitsUploadClient Client, FakeBitsHandler Handler) Scripted(Func<RecordedRequest, int, HttpResponseMessage> responder, Action<BitsClientOptions>? configure = null)
    {
        var handler = new FakeBitsHandler(responder);
        var options = new BitsClientOptions { RetryDelay = TimeSpan.Zero };
        configure?.Invoke(options);
        return (new BitsUploadClient(new HttpClient(handler), options), handler);
    }
}
