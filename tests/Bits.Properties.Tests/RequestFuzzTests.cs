using System.Globalization;
using System.Text.RegularExpressions;
using Bits.AspNetCore;
using Bits.Protocol;
using Bits.Testing;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Bits.Properties.Tests;

/// <summary>
/// Seeded fuzzing of the request path a host runs: <see cref="BitsHttp.ToBitsRequest"/> on a
/// <see cref="DefaultHttpContext"/>, <see cref="BitsProtocolHandler.HandleAsync"/> over the in-memory store, and
/// <see cref="BitsHttp.WriteAsync"/>. Every request must get a well-formed answer and nothing may throw.
/// </summary>
public partial class RequestFuzzTests
{
    private const int Seed = 20261125;
    private const int Requests = 12_000;

    private static readonly HashSet<int> AckStatuses = [200, 400, 403, 405, 409, 413, 416, 500, 501, 503];

    [Fact]
    public async Task MalformedRequests_NeverThrow_AndAlwaysGetAWellFormedAck()
    {
        var options = new BitsServerOptions { MaxFragmentBytes = 4096, MaxUploadBytes = 1 << 20, MaxSessionsPerUser = 4 };
        options.Areas["off"] = new BitsUploadAreaOptions { PathPrefix = "off", Enabled = false };
        var logs = new CountingLoggerFactory();
        var handler = new BitsProtocolHandler(new InMemoryBitsUploadStore(), Options.Create(options), TimeProvider.System, logs.CreateLogger<BitsProtocolHandler>());
        var fuzzer = new RequestFuzzer(Seed);
        var statuses = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var failures = new List<string>();

        for (var i = 0; i < Requests; i++)
        {
            var context = fuzzer.Next();
            var sent = fuzzer.Describe(context);
            BitsResponse response;
            try
            {
                var request = BitsHttp.ToBitsRequest(context, RequestFuzzer.RoutePrefix);
                response = await handler.HandleAsync(request, TestContext.Current.CancellationToken);
                await BitsHttp.WriteAsync(context, response);
            }
            catch (Exception ex)
            {
                failures.Add($"#{i} threw {ex.GetType().Name}: {ex.Message}\n    {sent}");
                continue;
            }

            foreach (var problem in Check(context, response))
            {
                failures.Add($"#{i} {problem}\n    {sent}");
            }

            var key = response.StatusCode.ToString(CultureInfo.InvariantCulture) + (response.GetHeader(BitsHeaders.ErrorCode) is { } code ? " " + code : string.Empty);
            statuses[key] = statuses.GetValueOrDefault(key) + 1;
            if (response.StatusCode == 200 && response.GetHeader(BitsHeaders.Protocol) is not null)
            {
                fuzzer.Issued(context, response.GetHeader(BitsHeaders.SessionId)!);
            }
        }

        var output = TestContext.Current.TestOutputHelper;
        output?.WriteLine($"{Requests} fuzzed requests (seed {Seed}); status histogram:");
        foreach (var (status, count) in statuses)
        {
            output?.WriteLine($"  {status,-16} {count,6}");
        }

        Assert.True(failures.Count == 0, $"{failures.Count} bad answers; first ones:\n" + string.Join("\n", failures.Take(15)));
        Assert.Equal(0, logs.UnhandledErrors);
        Assert.True(Requests >= 10_000);

        // The generator must reach the deep rules too, not only the first refusals.
        foreach (var expected in new[] { "200", "400 0x80070057", "405 0x80190195", "409 0x80190199", "413 0x8019019D", "416", "500 0x8020001F", "500 0x80200020", "501 0x80070005" })
        {
            Assert.True(statuses.ContainsKey(expected), $"no '{expected}' among {string.Join(", ", statuses.Keys)}");
        }
    }

    private static IEnumerable<string> Check(HttpContext context, BitsResponse response)
    {
        var status = response.StatusCode;
        var headers = context.Response.Headers;
        foreach (var header in headers)
        {
            foreach (var value in header.Value)
            {
                if (value is null || !ParserProperties.HeaderSafe().IsMatch(value))
                {
                    yield return $"header {header.Key} is not a valid field value: {System.Text.Json.JsonSerializer.Serialize(value)}";
                }
                else if (Leak().IsMatch(value))
                {
                    yield return $"header {header.Key} carries exception text: {value}";
                }
            }
        }

        if (response.GetHeader(BitsHeaders.PacketType) is null)
        {
            // Only reply downloads (GET/HEAD with ?bits-reply=) are plain HTTP answers; this store has no replies.
            if (!(context.Request.Method is "GET" or "HEAD" && context.Request.QueryString.Value!.Contains("bits-reply=", StringComparison.Ordinal) && status == 404))
            {
                yield return $"{status} without BITS-Packet-Type";
            }

            yield break;
        }

        if (response.GetHeader(BitsHeaders.PacketType) != "Ack" || headers[BitsHeaders.PacketType] != "Ack")
        {
            yield return "BITS-Packet-Type is not Ack";
        }

        if (!AckStatuses.Contains(status))
        {
            yield return $"status {status} is not one an Ack may have";
        }

        if (response.Body is not null || response.ContentLength != 0 || context.Response.ContentLength != 0)
        {
            yield return "an Ack with a body";
        }

        var code = response.GetHeader(BitsHeaders.ErrorCode);
        var errorContext = response.GetHeader(BitsHeaders.ErrorContext);
        if (status is >= 200 and < 300 or 416)
        {
            if (code is not null || errorContext is not null)
            {
                yield return $"{status} with error headers";
            }
        }
        else if (code is null || !HResult().IsMatch(code) || errorContext is null || !ErrorContext().IsMatch(errorContext))
        {
            yield return $"{status} with error code '{code}' and context '{errorContext}'";
        }
        else if (response.GetHeader(BitsHeaders.Error) != code)
        {
            yield return $"{status} with BITS-Error '{response.GetHeader(BitsHeaders.Error)}' differing from BITS-Error-Code '{code}'";
        }
        else if (code == "0x80004005")
        {
            yield return $"{status} E_FAIL: the handler hit an unexpected fault";
        }

        if (status == 416 && !IsDecimal(response.GetHeader(BitsHeaders.ReceivedContentRange)))
        {
            yield return "416 without a decimal BITS-Received-Content-Range";
        }

        if (response.GetHeader(BitsHeaders.Protocol) is not null && status != 200)
        {
            yield return "BITS-Protocol on an error";
        }

        if (headers.Pragma != "no-cache")
        {
            yield return "no Pragma: no-cache";
        }
    }

    private static bool IsDecimal(string? value) => value is { Length: > 0 } && value.All(char.IsAsciiDigit);

    [GeneratedRegex(@"\A0x[0-9A-F]{8}\z")]
    private static partial Regex HResult();

    [GeneratedRegex(@"\A0x[57]\z")]
    private static partial Regex ErrorContext();

    [GeneratedRegex(@"Exception|\bat [A-Z]\w*\.|\.cs:line|System\.", RegexOptions.CultureInvariant)]
    private static partial Regex Leak();

    /// <summary>Counts UnhandledError events (1006) the handler logs: each is a fault the fuzzer found.</summary>
    private sealed class CountingLoggerFactory : ILoggerFactory, ILogger
    {
        private int _unhandled;

        public int UnhandledErrors => Volatile.Read(ref _unhandled);

        public ILogger CreateLogger(string categoryName) => this;

        public void AddProvider(ILoggerProvider provider)
        {
        }

        public void Dispose()
        {
        }

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id == BitsEventIds.Protocol.UnhandledError)
            {
                Interlocked.Increment(ref _unhandled);
            }
        }
    }
}
