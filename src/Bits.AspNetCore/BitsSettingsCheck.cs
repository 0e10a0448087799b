using System.Collections;
using System.ComponentModel;
using System.Reflection;
using Bits.Protocol;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Bits.AspNetCore;

/// <summary>
/// Fails start-up on any configuration key under a declared root (<c>Bits</c>, <c>BitsStorage</c>) that no
/// <see cref="BitsSettingsSection"/> binds, naming the key: a misspelled setting (an authentication switch above all)
/// is never silently ignored.
/// </summary>
public static class BitsSettingsCheck
{
    /// <summary>Declares the <c>Bits</c> section and checks every declared root at start-up (with the <c>Bits</c> options).</summary>
    internal static IServiceCollection AddBitsSettingsCheck(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddSingleton(new BitsSettingsSection(BitsServerOptions.SectionName, typeof(BitsServerOptions)));
        services.AddSingleton<IValidateOptions<BitsServerOptions>>(sp => new BitsSettingsValidator(configuration, [.. sp.GetServices<BitsSettingsSection>()]));
        return services;
    }

    /// <summary>The sections declared in <paramref name="services"/>.</summary>
    public static IReadOnlyList<BitsSettingsSection> Sections(IServiceCollection services) =>
        [.. services.Where(d => d.ServiceType == typeof(BitsSettingsSection)).Select(d => (BitsSettingsSection)d.ImplementationInstance!)];

    /// <summary>Keys under the sections' roots (by their first path segment) that none of the sections binds.</summary>
    public static IReadOnlyList<string> UnknownKeys(IConfiguration configuration, IReadOnlyList<BitsSettingsSection> sections)
    {
        var unknown = new List<string>();
        foreach (var root in sections.Select(s => s.Path.Split(':')[0]).Distinct(StringComparer.OrdinalIgnoreCase))
        {
            Walk(configuration.GetSection(root), [], sections, unknown);
        }

        return unknown;
    }

    /// <summary>Checks the children of a section bound to <paramref name="types"/> (more than one where two options classes share it).</summary>
    private static void Walk(IConfigurationSection section, IEnumerable<Type> types, IReadOnlyList<BitsSettingsSection> sections, List<string> unknown)
    {
        var bound = types.Concat(sections.Where(s => SamePath(s.Path, section.Path)).Select(s => s.Type)).ToList();
        foreach (var child in section.GetChildren())
        {
            var childTypes = bound.Select(t => BoundType(t, child.Key)).OfType<Type>().ToList();
            if (childTypes.Count == 0 && !sections.Any(s => SamePath(s.Path, child.Path) || s.Path.StartsWith(child.Path + ":", StringComparison.OrdinalIgnoreCase)))
            {
                // Name the keys as written (Bits:Authentcation:AllowAnonymous), not just the misspelled section.
                var written = child.AsEnumerable().Where(p => p.Value is not null).Select(p => p.Key).Order(StringComparer.OrdinalIgnoreCase).ToList();
                unknown.AddRange(written.Count > 0 ? written : [child.Path]);
                continue;
            }

            Walk(child, childTypes, sections, unknown);
        }
    }

    /// <summary>The type the configuration binder binds key <paramref name="key"/> under <paramref name="type"/> to, or null when it binds nothing there.</summary>
    internal static Type? BoundType(Type type, string key)
    {
        if (IsScalar(type))
        {
            return null;
        }

        if (ElementType(type) is { } element)
        {
            return element;
        }

        var property = type.GetProperty(key, BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
        if (property is null || property.GetMethod?.IsPublic != true)
        {
            return null;
        }

        var propertyType = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;

        // The binder sets scalars and replaces objects through a public setter; it fills get-only dictionaries and lists in place.
        return property.SetMethod?.IsPublic == true || !IsScalar(propertyType) ? propertyType : null;
    }

    /// <summary>The public properties the binder binds under <paramref name="type"/>.</summary>
    public static IEnumerable<PropertyInfo> BoundProperties(Type type) =>
        IsScalar(type) || ElementType(type) is not null
            ? []
            : type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => BoundType(type, p.Name) is not null);

    /// <summary>The value type of a dictionary or the element type of a list or array, whose keys are names or indices.</summary>
    public static Type? ElementType(Type type) =>
        type.IsArray ? type.GetElementType()
        : type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>) ? type.GetGenericArguments()[1]
        : type.IsGenericType && type.GetGenericTypeDefinition() == typeof(List<>) ? type.GetGenericArguments()[0]
        : null;

    /// <summary>A value bound from one string (number, string, enum, <see cref="TimeSpan"/>, <see cref="Uri"/>...), as the binder decides.</summary>
    public static bool IsScalar(Type type) =>
        type == typeof(string) || (!typeof(IEnumerable).IsAssignableFrom(type) && TypeDescriptor.GetConverter(type).CanConvertFrom(typeof(string)));

    /// <summary>
    /// Renamed keys and sections (old, new; the more specific first): an old key is refused like any unknown one, and
    /// the message names its new name. No old name is kept working, so a configuration never has two spellings.
    /// </summary>
    private static readonly (string Old, string New)[] Renamed =
    [
        ("Bits:Auth:Bearer", "Bits:Authentication:BearerTokens"),
        ("Bits:Auth", "Bits:Authentication"),
        ("Bits:UploadsEnabled", "Bits:Enabled"),
    ];

    /// <summary>Keys removed since an earlier release, with what to do instead (refused like any unknown key).</summary>
    private static readonly (string Key, string Instead)[] Removed =
    [
        ("Bits:Janitor:HostedService", "the host decides where the janitor runs (the Functions app runs it from its timer trigger); to turn the janitor off, set 'Bits:Janitor:Enabled' (app setting 'Bits__Janitor__Enabled') to false"),
        ("BitsStorage:SegmentBytes", "it was never read; coalescing segments are sized by the store; delete the setting"),
    ];

    /// <summary>What to do instead of a key removed since an earlier release, or null.</summary>
    public static string? RemovedInstead(string key) =>
        Removed.Where(r => SamePath(key, r.Key)).Select(r => r.Instead).FirstOrDefault();

    /// <summary>The new name of a key renamed since an earlier release (suffix kept as written), or null.</summary>
    public static string? RenamedTo(string key) =>
        Renamed.Where(r => SamePath(key, r.Old) || key.StartsWith(r.Old + ":", StringComparison.OrdinalIgnoreCase))
            .Select(r => r.New + key[r.Old.Length..])
            .FirstOrDefault();

    private static bool SamePath(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
}

/// <summary>Runs <see cref="BitsSettingsCheck.UnknownKeys"/> when the <c>Bits</c> options are validated at start-up.</summary>
internal sealed class BitsSettingsValidator(IConfiguration configuration, IReadOnlyList<BitsSettingsSection> sections) : IValidateOptions<BitsServerOptions>
{
    public ValidateOptionsResult Validate(string? name, BitsServerOptions options)
    {
        var unknown = BitsSettingsCheck.UnknownKeys(configuration, sections);
        return unknown.Count == 0
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail(unknown.Select(key => BitsSettingsCheck.RenamedTo(key) is { } renamed
                ? $"Unknown setting '{key}': it was renamed to '{renamed}' (app setting '{renamed.Replace(":", "__", StringComparison.Ordinal)}'), so under its old name it would be ignored."
                : BitsSettingsCheck.RemovedInstead(key) is { } instead
                    ? $"Unknown setting '{key}': it was removed, so it would be ignored: {instead}."
                    : $"Unknown setting '{key}': no option reads it, so it would be ignored. Check its spelling against README's configuration table."));
    }
}
