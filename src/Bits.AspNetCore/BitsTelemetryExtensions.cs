using Azure.Core;
using Azure.Identity;
using Azure.Monitor.OpenTelemetry.Exporter;
using Bits.Protocol;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Trace;

namespace Bits.AspNetCore;

public static class BitsTelemetryExtensions
{
    /// <summary>
    /// Collects the server's spans and metrics (<see cref="BitsObservability.Name"/>) with OpenTelemetry and exports them
    /// where the configuration says (<see cref="BitsTelemetrySettings"/>): Azure Monitor, OTLP and/or the console. With
    /// none configured the providers still run, so a host can add its own exporter to the returned builder.
    /// </summary>
    public static IOpenTelemetryBuilder AddBitsTelemetry(this IServiceCollection services, IConfiguration configuration)
    {
        var settings = BitsTelemetrySettings.Read(configuration);
        services.AddSingleton(new BitsSettingsSection(BitsTelemetrySettings.ConsoleKey, typeof(bool)));
        var telemetry = services.AddOpenTelemetry()
            .WithTracing(tracing =>
            {
                tracing.AddSource(BitsObservability.Name);
                if (settings.Console)
                {
                    tracing.AddConsoleExporter();
                }
            })
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(BitsObservability.Name);
                if (settings.Console)
                {
                    metrics.AddConsoleExporter();
                }
            });

        if (settings.AzureMonitorConnectionString is { } connectionString)
        {
            var credential = settings.AzureMonitorCredential();
            telemetry.UseAzureMonitorExporter(options =>
            {
                options.ConnectionString = connectionString;
                if (credential is not null)
                {
                    options.Credential = credential;
                }
            });
        }

        if (settings.OtlpEndpoint is not null)
        {
            // Endpoint, protocol and headers come from the standard OTEL_EXPORTER_OTLP_* settings.
            telemetry.UseOtlpExporter();
        }

        return telemetry;
    }
}

/// <summary>Where telemetry goes, read from configuration (environment variables or app settings).</summary>
public sealed record BitsTelemetrySettings
{
    public const string ConnectionStringKey = "APPLICATIONINSIGHTS_CONNECTION_STRING";
    public const string AuthenticationStringKey = "APPLICATIONINSIGHTS_AUTHENTICATION_STRING";
    public const string OtlpEndpointKey = "OTEL_EXPORTER_OTLP_ENDPOINT";
    public const string ConsoleKey = "Bits:Telemetry:Console";
    public const string ManagedIdentityClientIdKey = "BitsStorage:ManagedIdentityClientId";

    /// <summary>Application Insights connection string; null means no Azure Monitor export.</summary>
    public string? AzureMonitorConnectionString { get; init; }

    /// <summary>Whether Application Insights accepts only Microsoft Entra tokens (<c>Authorization=AAD</c>).</summary>
    public bool AzureMonitorUsesEntraId { get; init; }

    /// <summary>Client id of the user-assigned identity for Azure Monitor; null means the system-assigned one.</summary>
    public string? AzureMonitorClientId { get; init; }

    public Uri? OtlpEndpoint { get; init; }

    public bool Console { get; init; }

    public static BitsTelemetrySettings Read(IConfiguration configuration)
    {
        var authentication = ParseAuthenticationString(configuration[AuthenticationStringKey]);
        var usesEntraId = authentication.TryGetValue("Authorization", out var authorization)
            && string.Equals(authorization, "AAD", StringComparison.OrdinalIgnoreCase);
        var clientId = authentication.TryGetValue("ClientId", out var id) && !string.IsNullOrWhiteSpace(id)
            ? id
            : NullIfBlank(configuration[ManagedIdentityClientIdKey]);
        return new BitsTelemetrySettings
        {
            AzureMonitorConnectionString = NullIfBlank(configuration[ConnectionStringKey]),
            AzureMonitorUsesEntraId = usesEntraId,
            AzureMonitorClientId = usesEntraId ? clientId : null,
            OtlpEndpoint = Uri.TryCreate(configuration[OtlpEndpointKey], UriKind.Absolute, out var endpoint) ? endpoint : null,
            Console = bool.TryParse(configuration[ConsoleKey], out var console) && console,
        };
    }

    /// <summary>The managed identity that signs Azure Monitor requests, or null when the connection string alone is used.</summary>
    public TokenCredential? AzureMonitorCredential() =>
        !AzureMonitorUsesEntraId ? null
        : AzureMonitorClientId is { } clientId ? new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId))
        : new ManagedIdentityCredential(ManagedIdentityId.SystemAssigned);

    /// <summary>Parses <c>Authorization=AAD;ClientId=...</c> (the format the Functions host also reads).</summary>
    private static Dictionary<string, string> ParseAuthenticationString(string? value)
    {
        var pairs = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var part in (value ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                pairs[part[..equals].Trim()] = part[(equals + 1)..].Trim();
            }
        }

        return pairs;
    }

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;
}
