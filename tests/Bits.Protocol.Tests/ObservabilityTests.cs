using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Bits.Protocol.Tests;

/// <summary>The metrics the Azure Monitor workbook (infra/workbook) charts carry the dimensions it groups by.</summary>
public class ObservabilityTests
{
    [Fact]
    public async Task ErrorAck_IsCountedWithItsStatusAndCause()
    {
        var recorded = new ConcurrentBag<Dictionary<string, object?>>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter == BitsObservability.Meter && instrument.Name == "bits.errors")
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            var copy = new Dictionary<string, object?>();
            foreach (var tag in tags)
            {
                copy[tag.Key] = tag.Value;
            }

            recorded.Add(copy);
        });
        listener.Start();

        // A Ping without Content-Length: 400 + E_INVALIDARG.
        var ack = await new HandlerHarness().SendAsync(new BitsRequest { Method = "BITS_POST", RawPath = "/observed.bin", PacketType = "Ping" });
        AckAssert.IsError(ack, 400, BitsHResults.E_INVALIDARG);

        // Other tests record errors at the same time: this one's measurement is among them.
        Assert.Contains(recorded, tags =>
            Equals(tags.GetValueOrDefault("error.type"), nameof(BitsErrorKind.InvalidArgument))
            && Equals(tags.GetValueOrDefault("http.response.status_code"), 400)
            && Equals(tags.GetValueOrDefault("bits.error_code"), BitsHResults.Format(BitsHResults.E_INVALIDARG))
            && Equals(tags.GetValueOrDefault("bits.packet_type"), "Ping"));
    }
}
