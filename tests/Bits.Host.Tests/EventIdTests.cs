using System.Reflection;
using Bits.AspNetCore;
using Bits.Client;
using Bits.Protocol;
using Bits.Storage.Azure;
using Bits.Testing;
using Microsoft.Extensions.Logging;

namespace Bits.Host.Tests;

/// <summary>
/// The event ids of every <c>[LoggerMessage]</c> in the shipped assemblies: unique, inside the range
/// <see cref="BitsEventIds"/> gives their component, and declared there under their event name.
/// </summary>
public class EventIdTests
{
    /// <summary>The assemblies that log, each with the <see cref="BitsEventIds"/> class of its component.</summary>
    private static readonly (Assembly Assembly, Type Component)[] LoggingAssemblies =
    [
        (typeof(BitsProtocolHandler).Assembly, typeof(BitsEventIds.Protocol)),
        (typeof(AzureBitsUploadStore).Assembly, typeof(BitsEventIds.Storage)),
        (typeof(BitsHttp).Assembly, typeof(BitsEventIds.AspNetCore)),
        (typeof(BitsUploadClient).Assembly, typeof(BitsEventIds.Client)),
    ];

    private static readonly Lazy<LoggedEvent[]> Events = new(FindEvents);

    [Fact]
    public void EveryLoggingProject_IsCovered()
    {
        var covered = LoggingAssemblies.Select(a => a.Assembly.GetName().Name).ToHashSet();
        var src = Path.Combine(RepositoryRoot.Find(), "src");
        var logging = Directory.GetDirectories(src)
            .Where(project => Directory.EnumerateFiles(project, "*.cs", SearchOption.AllDirectories)
                .Where(file => !file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
                .Any(file => File.ReadAllText(file).Contains("[LoggerMessage", StringComparison.Ordinal)))
            .Select(Path.GetFileName)
            .ToList();

        Assert.Contains("Bits.Protocol", logging); // the scan finds what it looks for
        Assert.All(logging, project => Assert.Contains(project, covered));
        Assert.True(Events.Value.Length >= 40, $"only {Events.Value.Length} [LoggerMessage] methods found");
    }

    [Fact]
    public void NoTwoMessages_ShareAnEventId()
    {
        var shared = Events.Value.GroupBy(e => e.Id)
            .Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g)}")
            .ToList();

        Assert.True(shared.Count == 0, "event ids used more than once:\n" + string.Join("\n", shared));
    }

    [Fact]
    public void EveryEventId_LiesInItsComponentsRange()
    {
        var outside = Events.Value
            .Where(e => e.Id < Bound(e.Component, "First") || e.Id > Bound(e.Component, "Last"))
            .Select(e => $"{e} is outside {e.Component.Name} ({Bound(e.Component, "First")}-{Bound(e.Component, "Last")})")
            .ToList();

        Assert.True(outside.Count == 0, string.Join("\n", outside));
    }

    [Fact]
    public void EveryEventId_IsDeclaredUnderItsEventName_AndEveryDeclaredIdIsLogged()
    {
        var logged = Events.Value.Select(e => (Class: IdClass(e.Component), e.Name, e.Id)).ToHashSet();
        var declared = LoggingAssemblies.Select(a => a.Component).Append(typeof(BitsEventIds.Janitor)).Distinct()
            .Select(IdClass)
            .SelectMany(c => Constants(c).Where(f => f.Name is not ("First" or "Last")).Select(f => (Class: c, f.Name, Id: (int)f.GetRawConstantValue()!)))
            .ToHashSet();

        Assert.True(declared.Count >= 40, $"only {declared.Count} ids declared");
        Assert.Empty(logged.Except(declared).Select(e => $"{e.Class.FullName}.{e.Name} = {e.Id}"));
        Assert.Empty(declared.Except(logged).Select(e => $"{e.Class.FullName}.{e.Name} = {e.Id}"));
    }

    /// <summary>The class that declares a component's ids: <see cref="BitsEventIds"/>' own, or the client's.</summary>
    private static Type IdClass(Type component) => component == typeof(BitsEventIds.Client) ? typeof(BitsClientEventIds) : component;

    private static int Bound(Type component, string name) => (int)component.GetField(name)!.GetRawConstantValue()!;

    private static IEnumerable<FieldInfo> Constants(Type type) =>
        type.GetFields(BindingFlags.Public | BindingFlags.Static).Where(f => f.IsLiteral && f.FieldType == typeof(int));

    private static LoggedEvent[] FindEvents() =>
        LoggingAssemblies.SelectMany(a => a.Assembly.GetTypes().SelectMany(type => type
                .GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Static | BindingFlags.DeclaredOnly)
                .Select(method => (method, attribute: method.GetCustomAttribute<LoggerMessageAttribute>()))
                .Where(m => m.attribute is not null)
                .Select(m => new LoggedEvent(
                    $"{type.FullName}.{m.method.Name}",
                    m.attribute!.EventName ?? m.method.Name,
                    m.attribute.EventId,
                    IsJanitor(type) ? typeof(BitsEventIds.Janitor) : a.Component))))
            .ToArray();

    /// <summary>The janitor is one component in two assemblies: the core's run and the hosts' scheduling.</summary>
    private static bool IsJanitor(Type type) =>
        type.DeclaringType is { } outer ? IsJanitor(outer) : type.Name.Contains("Janitor", StringComparison.Ordinal);

    private sealed record LoggedEvent(string Method, string Name, int Id, Type Component)
    {
        public override string ToString() => $"{Method} ({Name} = {Id})";
    }
}
