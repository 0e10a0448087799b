using System.Diagnostics;
using Bits.Client;
using Bits.Testing;

namespace Bits.Reliability.Tests;

/// <summary>
/// Storage goes away in the middle of an upload and comes back on the same ports with the same data folder: a dedicated
/// Azurite (not the shared one), stopped before the 4th Fragment and started again once the server has refused that
/// Fragment (before the client's retry of it is sent).
/// <para>
/// Azurite is stopped gracefully (SIGTERM, see <see cref="AzuriteProcess.StopGracefullyAsync"/>). Killed with SIGKILL
/// instead, Azurite 3.37 loses every write of its last ~5 s (LokiJS saves its metadata every 5 s): the session row, the
/// staging blobs, even the containers the host created at start-up. The server then rightly answers 0x8020001F for the
/// lost session and the client starts over, but every Create-Session fails (500, the staging container is gone) until
/// the host is restarted. That is Azurite's durability, not the server's: Azure Storage acknowledges only durable
/// writes, so this test does not kill it.
/// </para>
/// </summary>
public class AzuriteRestartTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Upload_StorageStoppedAndRestartedMidUpload_ResumesTheSameSessionByteIdentical()
    {
        var folder = Directory.CreateTempSubdirectory("azurite-restart-").FullName;

        // Ports outside the ephemeral range: while this Azurite is down, other tests' processes and connections (which
        // get ephemeral ports) cannot take its ports, so the restart on the same ports cannot fail with EADDRINUSE.
        var blobPort = AzuriteProcess.StablePort();
        var queuePort = AzuriteProcess.StablePort(blobPort);
        var first = await AzuriteProcess.StartAsync(folder, blobPort, queuePort, AzuriteProcess.StablePort(blobPort, queuePort));
        AzuriteProcess? second = null;
        var down = new Stopwatch();
        var stopping = new Stopwatch();
        try
        {
            await using var storage = ProxiedStorage.Create(first);
            await using var host = await InProcessHost.StartAsync(storage, SdkRetry.Fast, proxied: false);
            var fragments = 0;
            using var http = new HttpClient(new HookHandler(async request =>
            {
                if (request.PacketType() != "Fragment")
                {
                    return;
                }

                switch (Interlocked.Increment(ref fragments))
                {
                    case 4:
                        down.Start();
                        stopping.Start();
                        await first.StopGracefullyAsync();
                        stopping.Stop();
                        break;
                    case 5:
                        // The client's retry of the 4th: the server answered it while storage was down.
                        second = await AzuriteProcess.StartAsync(folder, first.BlobPort, first.QueuePort, first.TablePort);
                        down.Stop();
                        break;
                }
            }));
            var client = new BitsUploadClient(http, new BitsClientOptions { RetryDelay = TimeSpan.FromMilliseconds(250), MaxTransientRetries = 10 });
            var file = SeededStream.Bytes(6_000_000, 20);

            BitsUploadResult result;
            try
            {
                result = await client.UploadAsync(host.Url("restart.bin"), new MemoryStream(file), ct: Ct);
            }
            catch (BitsUploadException)
            {
                foreach (var e in host.Logs.Entries.Where(e => e.Level >= Microsoft.Extensions.Logging.LogLevel.Warning).Take(12))
                {
                    StorageFaultTests.Report(e.Event + ": " + e.Message[..Math.Min(400, e.Message.Length)]);
                }

                throw;
            }

            Assert.NotNull(second);
            Assert.True(result.TransientRetries >= 1, "the fragment sent while storage was down was retried");

            // Nothing was lost: the same session went on where it stopped.
            Assert.Equal(0, result.SessionRestarts);
            Assert.Equal(0, result.Retransmits);
            Assert.Equal(0, host.Logs.Count("UnhandledError"));

            await StorageFaultTests.AssertPublishedCleanlyAsync(storage, "restart.bin", file, result.SessionId);
            StorageFaultTests.Report(
                $"storage down for {down.ElapsedMilliseconds} ms (graceful stop {stopping.ElapsedMilliseconds} ms); client retries {result.TransientRetries}, resyncs {result.Retransmits}, " +
                $"session restarts {result.SessionRestarts}; host saw {host.Logs.Count("StorageUnavailable")} storage-unavailable and {host.Logs.Count("SessionGone")} session-gone packets");
        }
        finally
        {
            await first.DisposeAsync();
            if (second is not null)
            {
                await second.DisposeAsync();
            }

            Directory.Delete(folder, recursive: true);
        }
    }
}
