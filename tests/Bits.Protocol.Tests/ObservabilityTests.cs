using System.Diagnostics.Metrics;
using Bits.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Testing;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;

namespace Bits.Protocol.Tests;

/// <summary>
/// The metrics the Azure Monitor workbook (infra/workbook) charts carry the dimensions it groups by. Each test has its
/// own <see cref="IMeterFactory"/>, so it sees exactly its own handler's measurements.
/// </summary>
public sealed class ObservabilityTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();

    private IMeterFactory Meters => _services.GetRequiredService<IMeterFactory>();

    public void Dispose() => _services.Dispose();

    [Fact]
    public async Task ErrorAck_IsCountedWithItsStatusCauseAndReason()
    {
        using var errors = new MetricCollector<long>(Meters, BitsObservability.Name, "bits.errors");
        var harness = new HandlerHarness(metrics: new BitsMetrics(Meters));

        // A Ping without Content-Length: 400 + E_INVALIDARG.
        var ack = await harness.SendAsync(new BitsRequest { Method = "BITS_POST", RawPath = "/observed.bin", PacketType = "Ping" });
        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);

        var measurement = Assert.Single(errors.GetMeasurementSnapshot());
        Assert.Equal(1, measurement.Value);
        Assert.Equal(nameof(BitsErrorKind.InvalidArgument), measurement.Tags["error.type"]);
        Assert.Equal("request.content-length-missing", measurement.Tags["bits.error_reason"]);
        Assert.Equal(400, measurement.Tags["http.response.status_code"]);
        Assert.Equal(BitsHResults.Format(BitsHResults.E_INVALIDARG), measurement.Tags["bits.error_code"]);
        Assert.Equal("Ping", measurement.Tags["bits.packet_type"]);
    }

    [Fact]
    public async Task ErrorAck_IsLoggedWithItsReasonCode()
    {
        var logger = new FakeLogger<BitsProtocolHandler>();
        var handler = new BitsProtocolHandler(new InMemoryBitsUploadStore(new FakeTimeProvider()), Options.Create(new BitsServerOptions()), new FakeTimeProvider(), logger);

        await handler.HandleAsync(new BitsRequest { Method = "BITS_POST", RawPath = "/logged.bin", PacketType = "Ping", ContentLength = 3 }, TestContext.Current.CancellationToken);

        var failed = Assert.Single(logger.Collector.GetSnapshot(), record => record.Id.Name == "PacketFailed");
        Assert.Contains(new KeyValuePair<string, string?>("ReasonCode", "request.content-length-not-zero"), failed.StructuredState!);
        Assert.Contains("request.content-length-not-zero", failed.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PacketDuration_IsAHistogramInSeconds()
    {
        using var durations = new MetricCollector<double>(Meters, BitsObservability.Name, "bits.packet.duration");
        var harness = new HandlerHarness(metrics: new BitsMetrics(Meters));
        // Every reading of the wall clock (the session's creation time) takes 1.5 s.
        harness.Time.AutoAdvanceAmount = TimeSpan.FromSeconds(1.5);
        var started = harness.Time.GetTimestamp();

        await harness.SendAsync(BitsRequests.CreateSession("/timed.bin"));

        var measurement = Assert.Single(durations.GetMeasurementSnapshot());
        Assert.Equal("s", durations.Instrument!.Unit);
        Assert.IsType<Histogram<double>>(durations.Instrument);
        // Seconds (1.5 per clock reading during the packet), not milliseconds.
        Assert.InRange(measurement.Value, 1.5, harness.Time.GetElapsedTime(started).TotalSeconds);
        Assert.Equal("Create-Session", measurement.Tags["bits.packet_type"]);
    }

    [Fact]
    public async Task AHandlerBuiltWithoutAMeterFactory_RecordsNothingOnTheFactorysMeter()
    {
        using var packets = new MetricCollector<long>(Meters, BitsObservability.Name, "bits.packets");

        await new HandlerHarness().SendAsync(BitsRequests.CreateSession("/elsewhere.bin"));

        Assert.Empty(packets.GetMeasurementSnapshot());
    }
}
