using System.Diagnostics;
using Azure.Identity;
using Bits.AspNetCore;
using Bits.Protocol;
using Bits.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace BitsFunctions.Tests;

/// <summary>
/// OpenTelemetry listens to every meter named "Bits.Server" in the process (each host's <c>IMeterFactory</c> makes its
/// own), so these tests run alone (no other test of this assembly emits measurements meanwhile); spans are additionally
/// picked by the test's own trace id.
/// </summary>
[CollectionDefinition(nameof(TelemetryCollection), DisableParallelization = true)]
public sealed class TelemetryCollection;

[Collection(nameof(TelemetryCollection))]
public class TelemetryTests(AzuriteFixture azurite)
{
    [Fact]
    public async Task Upload_ThroughAppRegistration_RecordsBitsServerMetricsAndSpans()
    {
        var storage = StorageNames.Unique(azurite.ConnectionString);
        var spans = new List<Activity>();
        var metrics = new List<MetricSnapshot>();
        await using var app = await FunctionApp.StartAsync(storage.Settings(), services => services
            .ConfigureOpenTelemetryTracerProvider(tracing => tracing.AddInMemoryExporter(spans))
            .ConfigureOpenTelemetryMeterProvider(meters => meters.AddInMemoryExporter(metrics)));
        var file = SeededStream.Bytes(50_000, 3);
        const string target = "/uploads/telemetry/t.bin";

        // A sampled parent of our own: the default parent-based sampler keeps its children, and its trace id tells them apart.
        using var parent = new Activity("telemetry test") { ActivityTraceFlags = ActivityTraceFlags.Recorded }.Start();
        var id = await app.CreateSessionAsync(target);
        (await app.FragmentAsync(target, id, file, 0, 20_000)).AssertAck(200);
        (await app.FragmentAsync(target, id, file, 0, 20_000)).AssertAck(200);
        (await app.FragmentAsync(target, id, file, 10_000, 40_000)).AssertAck(200);
        (await app.PacketAsync(target, "Close-Session", id)).AssertAck(200);
        (await app.PacketAsync(target, "Nonsense")).AssertAck(400);
        parent.Stop();

        Assert.True(app.Services.GetRequiredService<MeterProvider>().ForceFlush());
        Assert.True(app.Services.GetRequiredService<TracerProvider>().ForceFlush());

        Assert.Equal(1, PacketCount(metrics, "Create-Session", 200));
        Assert.Equal(3, PacketCount(metrics, "Fragment", 200));
        Assert.Equal(1, PacketCount(metrics, "Close-Session", 200));
        Assert.Equal(1, PacketCount(metrics, "Unknown", 400));
        Assert.Equal(1, Sum(metrics, "bits.errors", ("bits.packet_type", "Unknown"), ("bits.error_code", "0x80070057"), ("bits.error_reason", "request.packet-type-unknown")));
        Assert.Equal(file.Length, Sum(metrics, "bits.bytes_received"));

        var ours = spans.Where(s => s.Source.Name == BitsObservability.Name && s.TraceId == parent.TraceId).ToList();
        Assert.Equal(["Create-Session", "Fragment", "Fragment", "Fragment", "Close-Session", "Unknown"],
            ours.Select(s => (string?)s.GetTagItem("bits.packet_type")));
        Assert.All(ours.Where(s => (string?)s.GetTagItem("bits.packet_type") == "Fragment"), s => Assert.Equal(id, s.GetTagItem("bits.session_id")));
        Assert.Equal(ActivityStatusCode.Error, ours[^1].Status);
        Assert.Equal("0x80070057", ours[^1].GetTagItem("bits.error_code"));
    }

    [Fact]
    public void AddBitsTelemetry_EveryExporterConfigured_ProvidersBuild()
    {
        // Endpoints on loopback only (nothing listens there); no Entra credential, so no token request leaves the machine.
        var configuration = Configuration(new()
        {
            ["APPLICATIONINSIGHTS_CONNECTION_STRING"] = "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/;LiveEndpoint=http://127.0.0.1:9/",
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:9",
            ["Bits:Telemetry:Console"] = "true",
        });
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(configuration);
        services.AddBitsTelemetry(configuration);

        using var provider = services.BuildServiceProvider();

        Assert.NotNull(provider.GetRequiredService<TracerProvider>());
        Assert.NotNull(provider.GetRequiredService<MeterProvider>());
    }

    [Fact]
    public void Settings_NothingConfigured_ExportsNowhere()
    {
        var settings = BitsTelemetrySettings.Read(Configuration(RepoFiles.SampleConfiguration()));

        Assert.Null(settings.AzureMonitorConnectionString);
        Assert.Null(settings.OtlpEndpoint);
        Assert.False(settings.Console);
        Assert.Null(settings.AzureMonitorCredential());
    }

    [Fact]
    public void Settings_AadAuthenticationString_UsesTheNamedManagedIdentity()
    {
        var settings = BitsTelemetrySettings.Read(Configuration(new()
        {
            ["APPLICATIONINSIGHTS_CONNECTION_STRING"] = "InstrumentationKey=00000000-0000-0000-0000-000000000000",
            ["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] = "ClientId=11111111-2222-3333-4444-555555555555;Authorization=AAD",
            ["BitsStorage:ManagedIdentityClientId"] = "99999999-9999-9999-9999-999999999999",
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "http://127.0.0.1:4317",
            ["Bits:Telemetry:Console"] = "true",
        }));

        Assert.NotNull(settings.AzureMonitorConnectionString);
        Assert.True(settings.AzureMonitorUsesEntraId);
        Assert.Equal("11111111-2222-3333-4444-555555555555", settings.AzureMonitorClientId);
        Assert.IsType<ManagedIdentityCredential>(settings.AzureMonitorCredential());
        Assert.Equal(new Uri("http://127.0.0.1:4317"), settings.OtlpEndpoint);
        Assert.True(settings.Console);
    }

    [Fact]
    public void Settings_AadWithoutClientId_FallsBackToTheStorageIdentity()
    {
        var settings = BitsTelemetrySettings.Read(Configuration(new()
        {
            ["APPLICATIONINSIGHTS_CONNECTION_STRING"] = "InstrumentationKey=00000000-0000-0000-0000-000000000000",
            ["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"] = "Authorization=AAD",
            ["BitsStorage:ManagedIdentityClientId"] = "99999999-9999-9999-9999-999999999999",
        }));

        Assert.Equal("99999999-9999-9999-9999-999999999999", settings.AzureMonitorClientId);
    }

    [Fact]
    public void Settings_ConnectionStringWithoutAad_UsesNoCredential()
    {
        var settings = BitsTelemetrySettings.Read(Configuration(new()
        {
            ["APPLICATIONINSIGHTS_CONNECTION_STRING"] = "InstrumentationKey=00000000-0000-0000-0000-000000000000",
            ["BitsStorage:ManagedIdentityClientId"] = "99999999-9999-9999-9999-999999999999",
        }));

        Assert.False(settings.AzureMonitorUsesEntraId);
        Assert.Null(settings.AzureMonitorCredential());
    }

    private static IConfiguration Configuration(Dictionary<string, string?> values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values).Build();

    private static long PacketCount(List<MetricSnapshot> metrics, string type, int status) =>
        Sum(metrics, "bits.packets", ("bits.packet_type", type), ("http.response.status_code", status));

    /// <summary>The latest cumulative sum of <paramref name="name"/> over points carrying all <paramref name="tags"/>.</summary>
    private static long Sum(List<MetricSnapshot> metrics, string name, params (string Key, object Value)[] tags)
    {
        var latest = metrics.LastOrDefault(m => m.Name == name);
        Assert.NotNull(latest);
        long total = 0;
        foreach (var point in latest.MetricPoints)
        {
            var pointTags = new Dictionary<string, object?>();
            foreach (var tag in point.Tags)
            {
                pointTags[tag.Key] = tag.Value;
            }

            if (tags.All(t => pointTags.TryGetValue(t.Key, out var value) && Equals(value, t.Value)))
            {
                total += point.GetSumLong();
            }
        }

        return total;
    }
}
