using System.Collections.Concurrent;
using System.Text;
using Bits.Protocol;
using FsCheck;
using FsCheck.Fluent;

namespace Bits.Properties.Tests;

/// <summary>A real server under test: the protocol handler over some store.</summary>
public interface IServerUnderTest : IAsyncDisposable
{
    Task<BitsResponse> SendAsync(BitsRequest request);

    /// <summary>Published files by blob name.</summary>
    Task<IReadOnlyDictionary<string, byte[]>> PublishedAsync();

    /// <summary>Number of sessions that still hold staged data.</summary>
    Task<int> StagedSessionsAsync();
}

/// <summary>Runs a script against the model and a real server in lockstep and compares every Ack and the end state.</summary>
public static class ModelRunner
{
    /// <summary>Counts what the scripts exercised, so a test can prove the generator reaches every case.</summary>
    public sealed class Coverage
    {
        private readonly ConcurrentDictionary<string, int> _counts = new(StringComparer.Ordinal);

        public int Scripts => Get("scripts");

        public int Packets => Get("packets");

        public void Add(string key) => _counts.AddOrUpdate(key, 1, (_, n) => n + 1);

        public int Get(string key) => _counts.TryGetValue(key, out var n) ? n : 0;

        public override string ToString() => string.Join(", ", _counts.OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));
    }

    public static async Task RunAsync(PacketScript script, IServerUnderTest server, Coverage coverage)
    {
        var model = new ProtocolModel();
        var ids = new List<string>();
        var log = new StringBuilder();
        coverage.Add("scripts");
        for (var step = 0; step < script.Packets.Count; step++)
        {
            var packet = script.Packets[step];
            var concrete = model.Concretise(packet);
            var request = ToRequest(concrete, ids, step);
            var expected = model.Apply(concrete, packet);
            var ack = await server.SendAsync(request);
            var actual = new ExpectedAck(ack.StatusCode, ack.GetHeader(BitsHeaders.ErrorCode), ack.GetHeader(BitsHeaders.ReceivedContentRange));
            log.AppendLine($"  {step,2}: {packet} -> {request.PacketType} {request.RawPath} range={request.ContentRange ?? "-"} length={request.ContentLength} user={request.User ?? "-"} id={concrete.IdKind}: model {expected}, server {actual}");
            if (expected != actual || ack.GetHeader(BitsHeaders.PacketType) != "Ack")
            {
                throw new InvalidOperationException("The server disagrees with the model at step " + step + ":" + Environment.NewLine + log);
            }

            if (concrete.Type == BitsPacketType.CreateSession && ack.StatusCode == 200)
            {
                ids.Add(ack.GetHeader(BitsHeaders.SessionId)!);
            }

            coverage.Add("packets");
            coverage.Add($"{concrete.Type.ToWireName()} {ack.StatusCode}{(ack.GetHeader(BitsHeaders.ErrorCode) is { } code ? " " + code : "")}");
            if (packet is FragmentPacket fragment && ack.StatusCode == 200)
            {
                coverage.Add("Fragment 200 " + fragment.Kind);
            }
        }

        var published = await server.PublishedAsync();
        var expectedFiles = model.Published;
        if (published.Count != expectedFiles.Count
            || expectedFiles.Any(f => !published.TryGetValue(f.Key, out var bytes) || !bytes.AsSpan().SequenceEqual(f.Value)))
        {
            throw new InvalidOperationException(
                $"Published files differ: model [{Describe(expectedFiles)}], server [{Describe(published)}]" + Environment.NewLine + log);
        }

        // Every open session holding bytes has staged data (blocks of ended sessions may stay on a destination until a
        // commit or storage's 7-day expiry, invisible to listings when the blob is published).
        var staged = await server.StagedSessionsAsync();
        if (staged < model.StagingSessionCount)
        {
            throw new InvalidOperationException($"{staged} sessions hold staged data; the model has {model.StagingSessionCount} open with bytes" + Environment.NewLine + log);
        }

        coverage.Add("published files " + Math.Min(published.Count, 2));
    }

    private static BitsRequest ToRequest(ConcretePacket packet, List<string> ids, int step)
    {
        var id = packet.IdKind switch
        {
            IdKind.Known => Spell(ids[packet.Session], step),
            IdKind.Unknown => new Guid(step, 0x4242, 0x4242, [1, 2, 3, 4, 5, 6, 7, (byte)step]).ToString("B"),
            IdKind.Malformed => step % 2 == 0 ? "not-a-session" : "{" + step + "}",
            _ => null,
        };
        return new BitsRequest
        {
            Method = BitsHeaders.Method,
            RawPath = packet.Url,
            PacketType = packet.Type.ToWireName(),
            SessionId = id,
            SupportedProtocols = packet.Protocols,
            ContentRange = packet.ContentRange,
            ContentLength = packet.ContentLength,
            ContentEncoding = packet.ContentEncoding,
            ContentName = packet.Type == BitsPacketType.Fragment ? "file.bin" : null,
            User = packet.User,
            Body = new MemoryStream(packet.Body, writable: false),
        };
    }

    /// <summary>Any GUID spelling names the same session (the server normalises it).</summary>
    private static string Spell(string id, int step) => (step % 3) switch
    {
        0 => id,
        1 => Guid.Parse(id).ToString("D"),
        _ => Guid.Parse(id).ToString("N").ToUpperInvariant(),
    };

    private static string Describe(IReadOnlyDictionary<string, byte[]> files) =>
        string.Join(", ", files.OrderBy(f => f.Key, StringComparer.Ordinal).Select(f => $"{f.Key}: {f.Value.Length} bytes {Convert.ToHexString(f.Value.AsSpan(0, Math.Min(8, f.Value.Length)))}"));
}

/// <summary>Generates packet scripts; the shrinker drops packets, which always leaves a valid script.</summary>
public static class ScriptGenerators
{
    public static Arbitrary<PacketScript> Scripts(int maxPackets)
    {
        var pick = Gen.Frequency((5, Gen.Constant(-1)), (1, Gen.Choose(0, 20)));
        var user = Gen.Choose(0, ProtocolModel.Users.Length - 1);
        var target = Gen.Frequency(
            (14, Gen.Constant(Target.Own)), (1, Gen.Constant(Target.OtherUrl)), (1, Gen.Constant(Target.OtherUser)),
            (1, Gen.Constant(Target.Unknown)), (1, Gen.Constant(Target.Malformed)), (1, Gen.Constant(Target.Missing)));
        var total = Gen.Frequency(
            (1, Gen.Constant(0)), (8, Gen.Choose(1, 30)), (4, Gen.Choose(31, 150)),
            (1, Gen.Choose(ProtocolModel.MaxUploadBytes + 1, 400)));
        var kind = Gen.Frequency(
            (12, Gen.Constant(RangeKind.InOrder)), (2, Gen.Constant(RangeKind.Duplicate)), (3, Gen.Constant(RangeKind.Overlap)),
            (2, Gen.Constant(RangeKind.Gap)), (1, Gen.Constant(RangeKind.WrongTotal)), (1, Gen.Constant(RangeKind.LastBeyondTotal)),
            (1, Gen.Constant(RangeKind.Garbage)));
        var fault = Gen.Frequency(
            (20, Gen.Constant(BodyFault.None)), (1, Gen.Constant(BodyFault.DeclaredLonger)), (1, Gen.Constant(BodyFault.DeclaredShorter)),
            (1, Gen.Constant(BodyFault.BodyEndsEarly)), (1, Gen.Constant(BodyFault.Encoding)));
        var length = Gen.Frequency((10, Gen.Choose(1, 40)), (1, Gen.Choose(ProtocolModel.MaxFragmentBytes + 1, 64)));

        var create = from url in Gen.Choose(0, ProtocolModel.Urls.Length - 1)
                     from u in user
                     from t in total
                     from bad in Gen.Frequency((15, Gen.Constant(false)), (1, Gen.Constant(true)))
                     select (Packet)new CreatePacket(url, u, t, bad);
        var fragment = from p in pick
                       from tg in target
                       from u in user
                       from k in kind
                       from l in length
                       from s in Gen.Choose(0, 1_000_000)
                       from f in fault
                       select (Packet)new FragmentPacket(p, tg, u, k, l, s, f);
        var close = from p in pick from tg in target from u in user select (Packet)new ClosePacket(p, tg, u);
        var cancel = from p in pick from tg in target from u in user select (Packet)new CancelPacket(p, tg, u);
        var packet = Gen.Frequency((3, create), (16, fragment), (2, close), (1, cancel), (1, Gen.Constant((Packet)new PingPacket())));

        // Scripts start with a Create-Session (as clients do); shrinking may still drop it.
        var script = from first in create
                     from n in Gen.Choose(0, maxPackets - 1)
                     from packets in Gen.ArrayOf(packet, n)
                     select new PacketScript([first, .. packets]);
        return Arb.From(script, Shrink);
    }

    /// <summary>Drops halves, then single packets.</summary>
    private static IEnumerable<PacketScript> Shrink(PacketScript script)
    {
        var packets = script.Packets;
        if (packets.Count > 1)
        {
            yield return new PacketScript(packets.Take(packets.Count / 2).ToArray());
            yield return new PacketScript(packets.Skip(packets.Count / 2).ToArray());
        }

        for (var i = packets.Count - 1; i >= 0 && packets.Count > 1; i--)
        {
            yield return new PacketScript(packets.Where((_, j) => j != i).ToArray());
        }
    }
}
