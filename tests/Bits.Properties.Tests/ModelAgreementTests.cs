using Azure.Data.Tables;
using Azure.Storage.Blobs;
using Azure.Storage.Blobs.Specialized;
using Bits.Protocol;
using Bits.Storage.Azure;
using Bits.Testing;
using FsCheck;
using FsCheck.Fluent;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

[assembly: AssemblyFixture(typeof(AzuriteFixture))]

namespace Bits.Properties.Tests;

/// <summary>
/// The model (<see cref="ProtocolModel"/>) and the real handler must agree on every random packet sequence: same status,
/// same BITS-Error-Code, same BITS-Received-Content-Range after every packet, and the same published bytes (and no staged
/// data left for ended sessions) at the end. Over the in-memory store with many cases, over the Azure store on Azurite
/// with a bounded number.
/// </summary>
public class ModelAgreementTests(AzuriteFixture azurite)
{
    private const int InMemoryCases = 1000;
    private const int AzureCases = 50;
    private const int MaxPackets = 25;

    [Fact]
    public async Task InMemoryStore_AgreesWithTheModel_OnRandomPacketSequences()
    {
        var coverage = new ModelRunner.Coverage();

        await CheckAsync(InMemoryCases, coverage, () => Task.FromResult<IServerUnderTest>(new InMemoryServer()));

        Report(coverage);
        AssertCoverage(coverage, InMemoryCases);
    }

    [Fact]
    public async Task AzureStoreOnAzurite_AgreesWithTheModel_OnRandomPacketSequences()
    {
        var coverage = new ModelRunner.Coverage();

        await CheckAsync(AzureCases, coverage, async () => await AzureServer.CreateAsync(azurite.ConnectionString));

        Report(coverage);
        Assert.Equal(AzureCases, coverage.Scripts);
        Assert.True(coverage.Get("Close-Session 200") > 0, coverage.ToString());
    }

    private static async Task CheckAsync(int cases, ModelRunner.Coverage coverage, Func<Task<IServerUnderTest>> start)
    {
        var property = Prop.ForAll(ScriptGenerators.Scripts(MaxPackets), script => RunOne(script, coverage, start));
        var config = Config.QuickThrowOnFailure.WithMaxTest(cases).WithQuietOnSuccess(true);

        // FsCheck runs properties synchronously; off the test's thread, on the pool, nothing can deadlock.
        await Task.Run(() => Check.One(config, property), TestContext.Current.CancellationToken);
    }

    private static void RunOne(PacketScript script, ModelRunner.Coverage coverage, Func<Task<IServerUnderTest>> start) =>
        Task.Run(async () =>
        {
            await using var server = await start();
            await ModelRunner.RunAsync(script, server, coverage);
        }).GetAwaiter().GetResult();

    private static void Report(ModelRunner.Coverage coverage) =>
        TestContext.Current.TestOutputHelper?.WriteLine($"{coverage.Scripts} scripts, {coverage.Packets} packets: {coverage}");

    private static void AssertCoverage(ModelRunner.Coverage coverage, int cases)
    {
        // The generator must reach every rule the model states, or agreement proves little.
        Assert.True(coverage.Scripts >= cases, coverage.ToString());
        foreach (var key in new[]
        {
            "Create-Session 200", "Create-Session 400 0x80070057", "Create-Session 403 0x80070005", "Create-Session 409 0x80190199",
            "Fragment 200 InOrder", "Fragment 200 Duplicate", "Fragment 200 Overlap", "Fragment 416", "Fragment 400 0x80070057",
            "Fragment 413 0x8019019D", "Fragment 500 0x80200020", "Fragment 500 0x8020001F",
            "Close-Session 200", "Close-Session 400 0x80070057", "Close-Session 500 0x8020001F",
            "Cancel-Session 200", "Ping 200", "published files 1",
        })
        {
            Assert.True(coverage.Get(key) > 0, $"no '{key}' in {coverage}");
        }
    }

    /// <summary>The handler over the in-memory test store.</summary>
    private sealed class InMemoryServer : IServerUnderTest
    {
        private readonly InMemoryBitsUploadStore _store = new();
        private readonly BitsProtocolHandler _handler;

        public InMemoryServer() =>
            _handler = new BitsProtocolHandler(_store, Options.Create(ProtocolModel.ServerOptions()), TimeProvider.System, NullLogger<BitsProtocolHandler>.Instance);

        public Task<BitsResponse> SendAsync(BitsRequest request) => _handler.HandleAsync(request, CancellationToken.None);

        public Task<IReadOnlyDictionary<string, byte[]>> PublishedAsync() => Task.FromResult(_store.Published);

        public Task<int> StagedSessionsAsync() => Task.FromResult(_store.StagedSessionCount);

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    /// <summary>The handler over <see cref="AzureBitsUploadStore"/> on Azurite, with its own table and containers.</summary>
    private sealed class AzureServer : IServerUnderTest
    {
        private readonly BlobServiceClient _blobs;
        private readonly TableServiceClient _tables;
        private readonly AzureBitsStorageOptions _options;
        private readonly BitsProtocolHandler _handler;

        private AzureServer(string connectionString)
        {
            var suffix = Guid.NewGuid().ToString("N")[..12];
            _options = new AzureBitsStorageOptions
            {
                ConnectionString = connectionString,
                UploadContainer = "up-" + suffix,
                StagingContainer = "st-" + suffix,
                SessionTable = "sessions" + suffix,
            };
            _blobs = new BlobServiceClient(connectionString);
            _tables = new TableServiceClient(connectionString);
            var serverOptions = Options.Create(ProtocolModel.ServerOptions());
            Store = new AzureBitsUploadStore(_blobs, _tables, Options.Create(_options), serverOptions, TimeProvider.System, NullLogger<AzureBitsUploadStore>.Instance);
            _handler = new BitsProtocolHandler(Store, serverOptions, TimeProvider.System, NullLogger<BitsProtocolHandler>.Instance);
        }

        public AzureBitsUploadStore Store { get; }

        public static async Task<AzureServer> CreateAsync(string connectionString)
        {
            var server = new AzureServer(connectionString);
            await server.Store.InitializeAsync(cancellationToken: CancellationToken.None);
            return server;
        }

        public Task<BitsResponse> SendAsync(BitsRequest request) => _handler.HandleAsync(request, CancellationToken.None);

        public async Task<IReadOnlyDictionary<string, byte[]>> PublishedAsync()
        {
            var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
            var uploads = _blobs.GetBlobContainerClient(_options.UploadContainer);
            await foreach (var blob in uploads.GetBlobsAsync())
            {
                files[blob.Name] = (await uploads.GetBlobClient(blob.Name).DownloadContentAsync()).Value.Content.ToArray();
            }

            return files;
        }

        public async Task<int> StagedSessionsAsync()
        {
            // Sessions owning uncommitted blocks on any destination (block ids start with the 32-hex session key).
            var sessions = new HashSet<string>(StringComparer.Ordinal);
            var uploads = _blobs.GetBlobContainerClient(_options.UploadContainer);
            await foreach (var blob in uploads.GetBlobsAsync(new Azure.Storage.Blobs.Models.GetBlobsOptions { States = Azure.Storage.Blobs.Models.BlobStates.Uncommitted }))
            {
                var list = await uploads.GetBlockBlobClient(blob.Name).GetBlockListAsync(Azure.Storage.Blobs.Models.BlockListTypes.Uncommitted);
                foreach (var block in list.Value.UncommittedBlocks)
                {
                    var raw = System.Text.Encoding.ASCII.GetString(Convert.FromBase64String(block.Name));
                    sessions.Add(raw[..Math.Min(32, raw.Length)]);
                }
            }

            await foreach (var blob in _blobs.GetBlobContainerClient(_options.StagingContainer).GetBlobsAsync())
            {
                sessions.Add(blob.Name.Split('/')[0]);
            }

            return sessions.Count;
        }

        public async ValueTask DisposeAsync()
        {
            await _blobs.GetBlobContainerClient(_options.UploadContainer).DeleteIfExistsAsync();
            await _blobs.GetBlobContainerClient(_options.StagingContainer).DeleteIfExistsAsync();
            await _tables.DeleteTableAsync(_options.SessionTable);
        }
    }
}
