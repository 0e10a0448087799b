using System.Reflection;
using System.Text.RegularExpressions;
using Bits.AspNetCore;
using Bits.Protocol;
using Bits.Storage.Azure;
using Bits.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace BitsFunctions.Tests;

/// <summary>Every setting the app binds is in local.settings.sample.json and in the README's configuration table.</summary>
public class ConfigurationDocsTests(AzuriteFixture azurite)
{
    private const string TableStart = "<!-- config-table:start -->";
    private const string TableEnd = "<!-- config-table:end -->";

    /// <summary>Settings read outside the bound options classes: telemetry and the Functions host's own.</summary>
    private static readonly string[] OtherSettings =
    [
        BitsTelemetrySettings.ConsoleKey,
        BitsTelemetrySettings.ConnectionStringKey,
        BitsTelemetrySettings.AuthenticationStringKey,
        BitsTelemetrySettings.OtlpEndpointKey,
        "AzureWebJobsStorage",
        "FUNCTIONS_WORKER_RUNTIME",
    ];

    public static TheoryData<string> BoundSettings()
    {
        var data = new TheoryData<string>();
        foreach (var key in BoundKeys())
        {
            data.Add(key);
        }

        return data;
    }

    public static TheoryData<string> AllSettings()
    {
        var data = new TheoryData<string>();
        foreach (var key in BoundKeys().Concat(OtherSettings))
        {
            data.Add(key);
        }

        return data;
    }

    [Fact]
    public void BoundSettings_CoverEveryOptionsProperty()
    {
        Assert.Contains("Bits:MaxFragmentBytes", BoundKeys());
        Assert.Contains("BitsStorage:ConnectionString", BoundKeys());
        Assert.Contains("Bits:Janitor:Interval", BoundKeys());
        Assert.Contains("Bits:RateLimits:Window", BoundKeys());
        Assert.Contains("Bits:ForwardedHeaders:KnownProxies", BoundKeys());
        Assert.Contains("Bits:UnusedSessionTimeout", BoundKeys());
        Assert.Contains("Bits:Areas:<name>:PathPrefix", BoundKeys());
        Assert.Contains("Bits:Authentication:BasicUsers:<user>", BoundKeys());
        Assert.Contains("Bits:Authentication:BearerTokens:Audience", BoundKeys());
        var auth = typeof(BitsAuthenticationOptions).GetProperties().Length;
        Assert.Equal(
            typeof(BitsServerOptions).GetProperties().Length - 2 + auth + typeof(BitsUploadAreaOptions).GetProperties().Length - 1 + auth
                + typeof(AzureBitsStorageOptions).GetProperties().Length
                + typeof(BitsAuthServerOptions).GetProperties().Length - 1 + typeof(BitsBearerAuthOptions).GetProperties().Length + typeof(BitsJanitorOptions).GetProperties().Length
                + typeof(BitsForwardedHeadersOptions).GetProperties().Length + typeof(BitsRateLimitOptions).GetProperties().Length,
            BoundKeys().Count());
    }

    [Theory]
    [MemberData(nameof(AllSettings))]
    public void LocalSettingsSample_ListsSetting(string key)
    {
        var values = RepoFiles.SampleValues();
        if (IsList(key) && !key.Contains(AreaPlaceholder, StringComparison.Ordinal))
        {
            Assert.DoesNotContain(values.Keys, k => k.StartsWith(EnvironmentForm(key), StringComparison.Ordinal));
            return;
        }

        if (key.Contains(UserPlaceholder, StringComparison.Ordinal))
        {
            var dictionary = EnvironmentForm(key[..key.IndexOf(UserPlaceholder, StringComparison.Ordinal)]);
            Assert.DoesNotContain(values.Keys, k => k.StartsWith(dictionary, StringComparison.Ordinal));
            return;
        }

        if (key.Contains(AreaPlaceholder, StringComparison.Ordinal))
        {
            Assert.DoesNotContain(values.Keys, k => k.StartsWith("Bits__Areas__", StringComparison.Ordinal));
            return;
        }

        Assert.True(values.ContainsKey(EnvironmentForm(key)), $"local.settings.sample.json has no Values entry '{EnvironmentForm(key)}'.");
    }

    [Theory]
    [MemberData(nameof(AllSettings))]
    public void ReadmeConfigTable_ListsSetting(string key)
    {
        var rows = ReadmeTableRows();

        Assert.True(rows.Any(row => FirstCell(row).Contains('`' + key + '`', StringComparison.Ordinal)),
            $"README.md's configuration table (between {TableStart} and {TableEnd}) has no row for `{key}`.");
    }

    [Fact]
    public void LocalSettingsSample_IsForTheIsolatedWorkerOnAzurite()
    {
        var values = RepoFiles.SampleValues();

        Assert.Equal("dotnet-isolated", values["FUNCTIONS_WORKER_RUNTIME"]);
        Assert.Equal("UseDevelopmentStorage=true", values["AzureWebJobsStorage"]);
        Assert.Equal("UseDevelopmentStorage=true", values["BitsStorage__ConnectionString"]);
        Assert.Equal("16777216", values["Bits__MaxFragmentBytes"]);
    }

    [Fact]
    public async Task LocalSettingsSample_PassesStartupValidation()
    {
        // Only the storage location is redirected to the test Azurite; everything else is the sample's value.
        var storage = StorageNames.Unique(azurite.ConnectionString);
        await using var app = await FunctionApp.StartAsync(storage.Settings());

        var server = app.Services.GetRequiredService<IOptions<BitsServerOptions>>().Value;
        var store = app.Services.GetRequiredService<IOptions<AzureBitsStorageOptions>>().Value;
        Assert.Equal(16L * 1024 * 1024, server.MaxFragmentBytes);
        Assert.Equal(TimeSpan.FromDays(14), server.TombstoneLifetime);
        Assert.Null(store.BlobServiceUri);
        Assert.True(store.CreateResources);
    }

    /// <summary>
    /// Every key README's table, local.settings.sample.json, the Kestrel host's appsettings.json and the Bicep's app
    /// settings name passes the start-up check for unknown settings: the check never rejects a documented setting.
    /// </summary>
    [Fact]
    public void DocumentedKeys_PassTheUnknownSettingCheck()
    {
        var documented = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var row in ReadmeTableRows())
        {
            foreach (Match key in Regex.Matches(FirstCell(row), @"`(Bits(Storage)?:[^`]+)`"))
            {
                documented[key.Groups[1].Value.Replace(AreaPlaceholder, "docs", StringComparison.Ordinal).Replace(UserPlaceholder, "alice", StringComparison.Ordinal)] = "x";
            }
        }

        foreach (var (key, value) in RepoFiles.SampleConfiguration())
        {
            documented[key] = value;
        }

        foreach (var (key, value) in new ConfigurationBuilder().AddJsonFile(Path.Combine(RepoFiles.Root, "src", "Bits.Host", "appsettings.json")).Build().AsEnumerable())
        {
            documented[key] = value;
        }

        foreach (var bicep in Directory.EnumerateFiles(Path.Combine(RepoFiles.Root, "infra"), "*.bicep", SearchOption.AllDirectories))
        {
            foreach (Match setting in Regex.Matches(File.ReadAllText(bicep), @"name: '((Bits|BitsStorage)__[^']+)'"))
            {
                documented[Regex.Replace(setting.Groups[1].Value, @"\$\{[^}]+\}", "0").Replace("__", ":", StringComparison.Ordinal)] = "x";
            }
        }

        Assert.Contains("Bits:Areas:docs:Authentication:Realm", documented.Keys);
        Assert.Contains("Bits:Authentication:BasicUsers:alice", documented.Keys);
        Assert.Contains("Bits:Authentication:AllowedUsers:0", documented.Keys);
        Assert.Contains("BitsStorage:QueueServiceUri", documented.Keys);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(documented).Build();
        var services = new ServiceCollection();
        BitsFunctionsApp.ConfigureServices(services, configuration);

        Assert.Empty(BitsSettingsCheck.UnknownKeys(configuration, BitsSettingsCheck.Sections(services)));
    }

    /// <summary>
    /// Every bound option property is read by the code (its getter is called outside the options classes and their
    /// validators), so no setting is documented and validated but has no effect.
    /// </summary>
    [Fact]
    public void BoundSettings_AreReadByTheCode()
    {
        var services = new ServiceCollection();
        BitsFunctionsApp.ConfigureServices(services, new ConfigurationBuilder().Build());
        var optionTypes = new HashSet<Type>();
        var properties = new List<PropertyInfo>();
        foreach (var section in BitsSettingsCheck.Sections(services))
        {
            Collect(section.Type);
        }

        var assemblies = optionTypes.Select(t => t.Assembly).Append(typeof(BitsFunctionsApp).Assembly).Append(typeof(BitsSettingsCheck).Assembly).Distinct();
        var read = PropertyReads.Getters(assemblies, caller => !optionTypes.Contains(caller) && !caller.GetInterfaces().Any(IsValidator));

        Assert.Contains(typeof(BitsServerOptions).GetProperty(nameof(BitsServerOptions.MaxFragmentBytes))!.GetMethod!, read);
        Assert.Empty(properties.Where(p => !read.Contains(p.GetMethod!)).Select(p => p.DeclaringType!.Name + "." + p.Name));

        void Collect(Type type)
        {
            type = Nullable.GetUnderlyingType(type) ?? type;
            type = BitsSettingsCheck.ElementType(type) ?? type;
            if (BitsSettingsCheck.IsScalar(type) || !optionTypes.Add(type))
            {
                return;
            }

            foreach (var property in BitsSettingsCheck.BoundProperties(type))
            {
                properties.Add(property);
                Collect(property.PropertyType);
            }
        }

        static bool IsValidator(Type i) => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IValidateOptions<>);
    }

    private static IEnumerable<string> BoundKeys() =>
        Keys(BitsServerOptions.SectionName, typeof(BitsServerOptions))
            .Concat(Keys(BitsAuthServerOptions.SectionName, typeof(BitsAuthServerOptions)))
            .Concat(Keys(BitsJanitorOptions.SectionName, typeof(BitsJanitorOptions)))
            .Concat(Keys(BitsForwardedHeadersOptions.SectionName, typeof(BitsForwardedHeadersOptions)))
            .Concat(Keys(BitsRateLimitOptions.SectionName, typeof(BitsRateLimitOptions)))
            .Concat(Keys(AzureBitsStorageOptions.SectionName, typeof(AzureBitsStorageOptions)));

    /// <summary>Keys of an options class; a dictionary of areas contributes <c>Section:Areas:&lt;name&gt;:Property</c> keys.</summary>
    private static IEnumerable<string> Keys(string section, Type options) =>
        options.GetProperties(BindingFlags.Public | BindingFlags.Instance).SelectMany(p =>
            p.PropertyType == typeof(Dictionary<string, BitsUploadAreaOptions>) ? Keys($"{section}:{p.Name}:{AreaPlaceholder}", typeof(BitsUploadAreaOptions))
            : p.PropertyType == typeof(BitsAuthenticationOptions) ? Keys($"{section}:{p.Name}", typeof(BitsAuthenticationOptions))
            : p.PropertyType == typeof(BitsBearerAuthOptions) ? Keys($"{section}:{p.Name}", typeof(BitsBearerAuthOptions))
            : p.PropertyType == typeof(Dictionary<string, string>) ? [$"{section}:{p.Name}:{UserPlaceholder}"]
            : [section + ":" + p.Name]);

    /// <summary>List settings are indexed (<c>Key__0</c>, <c>Key__1</c>); the sample settings leave them empty.</summary>
    private static bool IsList(string key) =>
        key.EndsWith(":AllowedUsers", StringComparison.Ordinal) || key.EndsWith(":ValidIssuers", StringComparison.Ordinal)
        || key.EndsWith(":KnownProxies", StringComparison.Ordinal) || key.EndsWith(":KnownNetworks", StringComparison.Ordinal);

    /// <summary>Stands for an area's name in documented keys; areas are optional, so the sample settings define none.</summary>
    private const string AreaPlaceholder = "<name>";

    /// <summary>Stands for a user name in documented keys (<c>Bits:Authentication:BasicUsers:&lt;user&gt;</c>); the sample settings define none.</summary>
    private const string UserPlaceholder = "<user>";

    private static string EnvironmentForm(string key) => key.Replace(":", "__", StringComparison.Ordinal);

    private static string[] ReadmeTableRows()
    {
        var text = File.ReadAllText(RepoFiles.Readme);
        var start = text.IndexOf(TableStart, StringComparison.Ordinal);
        var end = text.IndexOf(TableEnd, StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, $"README.md has no {TableStart} ... {TableEnd} block.");
        return text[start..end].Split('\n').Select(l => l.Trim()).Where(l => l.StartsWith('|')).ToArray();
    }

    private static string FirstCell(string row) => row.Split('|', StringSplitOptions.TrimEntries)[1];
}
