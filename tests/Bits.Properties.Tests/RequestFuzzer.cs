using System.Globalization;
using System.Security.Claims;
using System.Text;
using Bits.Protocol;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Bits.Properties.Tests;

/// <summary>
/// A seeded generator of malformed (and some well-formed) BITS requests as <see cref="DefaultHttpContext"/>s: odd
/// methods, packet types, session ids, Content-Range and Content-Length values, paths with encodings, traversal and
/// control characters, oversized headers, bodies shorter or longer than declared or failing mid-way. It remembers the
/// sessions the server issued, so later requests reach deep states (fragments, closes, cancels of real sessions).
/// </summary>
public sealed class RequestFuzzer(int seed)
{
    public const string RoutePrefix = "/uploads";

    private static readonly string[] Names =
    [
        "a.bin", "dir/x.bin", "dir/sub/y.bin", "off/x.bin", "q%20r.bin", "%E2%82%AC.bin", "a+b.bin", "\u00E9t\u00E9.bin",
        "..", "../x.bin", "%2e%2e/x.bin", "%2E%2E%2Fsecret", "..%2f..%2fsecret.bin", "a/./b.bin", "a//b.bin", "a\\b.bin",
        "a%5cb.bin", "a%00b.bin", "a%0d%0ab.bin", "%c0%ae%c0%ae/x.bin", "%ff.bin", "%", "%zz", "%2", "dir/", "", "/",
        "x.bin.", "\u202Egnp.exe", "a\tb.bin", "CON", "x.bin;v=1", "%252e%252e/x.bin",
    ];

    private static readonly string[] Methods =
    [
        "bits_post", "Bits_Post", "POST", "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "", "BITS_POSTX", "BITS-POST",
        "BITS_P\u039FST", "BITS_POST ", "TRACE", "CONNECT", "bits_post\0",
    ];

    private static readonly string[] PacketTypes =
    [
        "Ping", "Create-Session", "Fragment", "Close-Session", "Cancel-Session", "PING", "create-session", " Fragment ",
        "CLOSE-SESSION\t", "cancel-SESSION", "Fr\u0430gment", "P\u0130NG", "Ping\0", "Fragment,Fragment", "Ack", "Create Session",
        "Create-Sessions", "", " ", "\u00A0Ping", "Close-Session\r\n", "Fragment;", "0", "null",
    ];

    private static readonly string[] RangeTexts =
    [
        "bytes 0-0/1", "bytes */0", "bytes 0--1/0", "bytes 0-0/0", "bytes 5-3/10", "bytes -1-0/1", "bytes 0-9/5", "bytes=0-1/2",
        "bytes 0-99999999999999999999/99999999999999999999", "bytes 0-9223372036854775806/9223372036854775807",
        "bytes 9223372036854775806-9223372036854775806/9223372036854775807", "bytes 0-0x10/20", "bytes \u0660-\u0661/5",
        "BYTES  0-1/2", "bytes 0-1/2 ", "bytes 0-1/*", "bytes */*", "bytes 0-1/2/3", "items 0-1/2", "bytes", "", "bytes 1-1/1",
        "bytes 0-4294967295/4294967296", "bytes 0-2147483647/2147483648", "bytes +0-1/2", "bytes 0-1/2\n", "bytes\t0-1/2",
    ];

    private static readonly string[] LengthTexts =
    [
        "-1", "abc", "99999999999999999999", "9223372036854775807", "2147483648", " 5 ", "1,1", "0x10", "1e3", "",
    ];

    private static readonly string[] Encodings = ["gzip", "identity", "IDENTITY", " identity ", "br", "", "identity, gzip", "x\0y"];

    private static readonly string?[] UserNames = [null, null, null, "alice", "bob", "mallory\r\nX-Injected: 1", "\u00E9ve"];

    private readonly Random _random = new(seed);
    private readonly List<(string Id, string Target, string? User)> _sessions = [];

    /// <summary>What was sent, for failure messages.</summary>
    public string Describe(HttpContext context)
    {
        var request = context.Request;
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"{request.Method} {context.Features.Get<IHttpRequestFeature>()?.RawTarget}");
        foreach (var header in request.Headers)
        {
            var value = header.Value.ToString();
            text.Append(CultureInfo.InvariantCulture, $" | {header.Key}: {(value.Length > 80 ? value[..80] + "..." : value)}");
        }

        return text.ToString();
    }

    /// <summary>Remembers a session the server issued (from a successful Create-Session).</summary>
    public void Issued(HttpContext context, string id) =>
        _sessions.Add((id, context.Features.Get<IHttpRequestFeature>()!.RawTarget, context.User.Identity?.Name));

    public DefaultHttpContext Next()
    {
        var context = new DefaultHttpContext();
        var request = context.Request;
        request.Scheme = "http";
        request.Host = new HostString("127.0.0.1", 7071);
        request.Path = RoutePrefix + "/x.bin";

        if (Chance(15))
        {
            // A well-formed Create-Session, so there are sessions to continue (and users reach their session limit).
            SetTarget(context, RoutePrefix + "/" + Pick(["a.bin", "dir/x.bin", "dir/sub/y.bin", "b" + _random.Next(50) + ".bin", "off/x.bin"]));
            request.Method = BitsHeaders.Method;
            request.Headers[BitsHeaders.PacketType] = Casing("Create-Session");
            request.Headers[BitsHeaders.SupportedProtocols] = Protocols();
            request.Headers.ContentLength = 0;
            if (Pick(new[] { null, "alice", "bob" }) is { } name)
            {
                context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, name)], "Basic"));
            }

            return context;
        }

        // A third of the requests continue an issued session nearly correctly, so deep states are reached.
        var session = _sessions.Count > 0 && Chance(35) ? _sessions[_random.Next(_sessions.Count)] : default;
        var target = session.Id is not null && Chance(85) ? session.Target : Target();
        SetTarget(context, target);
        request.Method = Chance(70) ? BitsHeaders.Method : Pick(Methods);
        if (request.Method == "POST" && Chance(70))
        {
            request.Headers["X-Http-Method-Override"] = Chance(80) ? Casing("BITS_POST") : Pick(Methods);
        }

        var packetType = session.Id is not null && Chance(80)
            ? Pick(["Fragment", "Fragment", "Fragment", "Close-Session", "Cancel-Session", "Ping"])
            : Chance(10) ? null : Chance(70) ? Casing(Pick(PacketTypes)) : Random(_random.Next(1, 40));
        if (packetType is not null)
        {
            request.Headers[BitsHeaders.PacketType] = Chance(3) ? new string('F', 5000) : packetType;
        }

        if (session.Id is not null && Chance(90))
        {
            request.Headers[BitsHeaders.SessionId] = Spell(session.Id);
        }
        else if (Chance(60))
        {
            request.Headers[BitsHeaders.SessionId] = SessionIdNoise();
        }

        if (Chance(50) || packetType?.Contains("Create", StringComparison.OrdinalIgnoreCase) == true)
        {
            request.Headers[BitsHeaders.SupportedProtocols] = Protocols();
        }

        var body = Body(request, session);
        if (Chance(20))
        {
            request.Headers[BitsHeaders.ContentEncoding] = Pick(Encodings);
        }

        if (Chance(30))
        {
            request.Headers[BitsHeaders.ContentName] = Chance(10) ? new string('n', 4097) : Pick(["file.bin", "..\\..\\x", "a/b", "\u00E9.bin", "", "CON:"]);
        }

        if (Chance(5))
        {
            request.Headers["X-Padding-" + _random.Next(3)] = new string('x', 4096 + _random.Next(0, 3));
        }

        if (Chance(10))
        {
            request.Headers["Range"] = Pick(["bytes=0-0", "bytes=-5", "bytes=5-", "bytes=9-3", "bytes=0-1,3-4", "items=0-1", "bytes=99999999999999999999-"]);
        }

        var user = session.Id is not null && Chance(80) ? session.User : Pick(UserNames);
        if (user is not null)
        {
            context.User = new ClaimsPrincipal(new ClaimsIdentity([new Claim(ClaimTypes.Name, user)], "Basic"));
        }

        request.Body = body;
        return context;
    }

    private Stream Body(HttpRequest request, (string Id, string Target, string? User) session)
    {
        // Content-Range and Content-Length, consistent or not, and a body that matches them or not.
        long first = 0, length = 0;
        if (session.Id is not null && Chance(70))
        {
            var total = Pick(new long[] { 1, 10, 100, 1000, 5000, 100_000, 1L << 40 });
            first = Chance(70) ? 0 : _random.Next(0, 200);
            length = Math.Max(0, Math.Min(Pick(new long[] { 1, 10, 100, 1000, 4096, 4097, 10_000 }), total - first));
            request.Headers[BitsHeaders.ContentRange] = length == 0
                ? "bytes */0"
                : string.Create(CultureInfo.InvariantCulture, $"bytes {first}-{first + length - 1}/{total}");
        }
        else if (Chance(60))
        {
            request.Headers[BitsHeaders.ContentRange] = Chance(70) ? Pick(RangeTexts) : Mutate(Pick(RangeTexts));
        }

        var declared = Chance(75) ? length : _random.Next(0, 6000);
        if (Chance(85))
        {
            request.Headers.ContentLength = declared;
        }
        else if (Chance(70))
        {
            request.Headers["Content-Length"] = Pick(LengthTexts);
        }

        var actual = Chance(80) ? declared : Math.Max(0, declared + _random.Next(-100, 100));
        var bytes = new byte[Math.Min(actual, 20_000)];
        _random.NextBytes(bytes);
        return Chance(5) ? new FailingStream(bytes, _random.Next(0, bytes.Length + 1)) : new MemoryStream(bytes, writable: false);
    }

    private string Target()
    {
        var name = Chance(80) ? Pick(Names) : Random(_random.Next(0, 30));
        var path = Chance(95) ? RoutePrefix + "/" + name : Pick(["/other/x.bin", "/UPLOADS/a.bin", "/uploadsx/a.bin", "/uploads", "*", "http://host/uploads/a.bin", ""]);
        if (Chance(3))
        {
            path = RoutePrefix + "/" + string.Join('/', Enumerable.Repeat(new string('s', _random.Next(100, 300)), _random.Next(1, 8)));
        }

        if (Chance(15))
        {
            path += Pick(["?bits-reply=" + SeededGuid().ToString("N"), "?bits-reply=", "?bits-reply=..%2f", "?code=abc", "?a=b&bits-reply=x", "#frag", "?"]);
        }

        return path;
    }

    private static void SetTarget(HttpContext context, string target)
    {
        context.Features.Get<IHttpRequestFeature>()!.RawTarget = target;
        var query = target.IndexOf('?', StringComparison.Ordinal);
        if (query >= 0)
        {
            context.Request.QueryString = new QueryString(target[query..]);
        }
    }

    private string SessionIdNoise() => _random.Next(10) switch
    {
        0 => SeededGuid().ToString("B").ToUpperInvariant(),
        1 => SeededGuid().ToString("X").Replace(",", ",\r\n", StringComparison.Ordinal),
        2 => "{" + Random(10) + "}",
        3 => new string('A', 5000),
        4 => "00000000-0000-0000-0000-000000000000",
        5 => SeededGuid() + ", " + SeededGuid(),
        6 => string.Empty,
        7 => " \t ",
        8 => "{" + SeededGuid() + "}\0",
        _ => Random(_random.Next(1, 60)),
    };

    private string Spell(string id) => _random.Next(6) switch
    {
        0 => Guid.Parse(id).ToString("D"),
        1 => Guid.Parse(id).ToString("N"),
        2 => " " + id.ToLowerInvariant() + " ",
        3 => Guid.Parse(id).ToString("X"),
        _ => id,
    };

    private string Protocols() => _random.Next(8) switch
    {
        0 => "{7df0354d-249b-430f-820d-3d2a9bef4931}",
        1 => "{7DF0354D-249B-430F-820D-3D2A9BEF4931} {00000000-0000-0000-0000-000000000000}",
        2 => string.Join(",", Enumerable.Range(0, 150).Select(_ => SeededGuid().ToString("B"))) + ",{7df0354d-249b-430f-820d-3d2a9bef4931}",
        3 => "7df0354d-249b-430f-820d-3d2a9bef4931",
        4 => Random(30),
        5 => ",,, ,",
        _ => "{7df0354d-249b-430f-820d-3d2a9bef4931}",
    };

    private string Casing(string text) =>
        Chance(60) ? text : new string(text.Select(c => Chance(50) ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c)).ToArray());

    private string Mutate(string text)
    {
        var builder = new StringBuilder(text);
        for (var i = _random.Next(1, 4); i > 0; i--)
        {
            var at = _random.Next(builder.Length + 1);
            var c = Chance(50) ? Generators.Awkward[_random.Next(Generators.Awkward.Length)] : (char)_random.Next(0, 0x10000);
            if (at < builder.Length && Chance(50))
            {
                builder[at] = c;
            }
            else
            {
                builder.Insert(at, c);
            }
        }

        return builder.ToString();
    }

    private string Random(int length)
    {
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = _random.Next(4) switch
            {
                0 => (char)_random.Next(0, 0x20),
                1 => (char)_random.Next(0x80, 0x10000),
                _ => (char)_random.Next(0x20, 0x7F),
            };
        }

        return new string(chars);
    }

    private Guid SeededGuid()
    {
        Span<byte> bytes = stackalloc byte[16];
        _random.NextBytes(bytes);
        return new Guid(bytes);
    }

    private bool Chance(int percent) => _random.Next(100) < percent;

    private T Pick<T>(T[] values) => values[_random.Next(values.Length)];

    /// <summary>A body whose connection breaks after some bytes (the client went away).</summary>
    private sealed class FailingStream(byte[] bytes, int failAt) : MemoryStream(bytes, writable: false)
    {
        public override int Read(Span<byte> buffer) =>
            Position >= failAt ? throw new IOException("connection reset") : base.Read(buffer[..(int)Math.Min(buffer.Length, failAt - Position)]);

        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            ValueTask.FromResult(Read(buffer.Span));

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            Task.FromResult(Read(buffer.AsSpan(offset, count)));
    }
}
