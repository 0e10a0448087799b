using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Bits.Protocol;

/// <summary>The one <see cref="ActivitySource"/> and <see cref="Meter"/> of the server, both named <c>Bits.Server</c>.</summary>
public static class BitsObservability
{
    public const string Name = "Bits.Server";

    public static readonly ActivitySource ActivitySource = new(Name);

    public static readonly Meter Meter = new(Name);

    /// <summary>Packets handled, tagged with packet type, HTTP status and BITS error code.</summary>
    public static readonly Counter<long> Packets = Meter.CreateCounter<long>("bits.packets", "{packet}", "BITS packets handled");

    public static readonly Counter<long> BytesReceived = Meter.CreateCounter<long>("bits.bytes_received", "By", "Fragment bytes stored");

    /// <summary>Error Acks, tagged with packet type, BITS-Error-Code, HTTP status and cause (<c>error.type</c>: the
    /// <see cref="BitsErrorKind"/>, e.g. <c>ServerBusy</c> or <c>StorageUnavailable</c> for the two causes of a 503).</summary>
    public static readonly Counter<long> Errors = Meter.CreateCounter<long>("bits.errors", "{error}", "Error Acks by BITS-Error-Code");

    /// <summary>Sessions created minus sessions closed/cancelled by this instance (sum over instances for the fleet).</summary>
    public static readonly UpDownCounter<long> ActiveSessions = Meter.CreateUpDownCounter<long>("bits.sessions.active", "{session}", "Open upload sessions");

    public static readonly Histogram<double> PublishDuration = Meter.CreateHistogram<double>("bits.publish.duration", "ms", "Time to publish a file at Close-Session");

    public static readonly Histogram<double> PacketDuration = Meter.CreateHistogram<double>("bits.packet.duration", "ms", "Time to handle one packet");

    internal static void RecordPacket(BitsPacketType type, BitsResponse response, TimeSpan elapsed)
    {
        var typeTag = new KeyValuePair<string, object?>("bits.packet_type", type.ToWireName());
        var statusTag = new KeyValuePair<string, object?>("http.response.status_code", response.StatusCode);
        Packets.Add(1, typeTag, statusTag);
        PacketDuration.Record(elapsed.TotalMilliseconds, typeTag);
        if (response.Error is { } error)
        {
            Errors.Add(
                1,
                typeTag,
                statusTag,
                new KeyValuePair<string, object?>("bits.error_code", BitsHResults.Format(error.HResult)),
                new KeyValuePair<string, object?>("error.type", error.Kind.ToString()),
                new KeyValuePair<string, object?>("bits.error_reason", error.Code));
        }
    }
}
