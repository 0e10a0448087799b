using System.Text.Json.Nodes;

namespace Bits.Infra.Tests.Support;

/// <summary>A compiled ARM template with helpers that see through nested (module) deployments.</summary>
internal sealed class ArmTemplate
{
    public ArmTemplate(JsonObject root)
    {
        Root = root;
        Resources = [.. Walk(root)];
    }

    public JsonObject Root { get; }

    /// <summary>Every deployed (non-existing) resource, including those inside module deployments.</summary>
    public IReadOnlyList<JsonObject> Resources { get; }

    public JsonObject Parameters => Root["parameters"]!.AsObject();

    public JsonObject Outputs => Root["outputs"]!.AsObject();

    public IEnumerable<JsonObject> OfType(string type) =>
        Resources.Where(r => string.Equals((string?)r["type"], type, StringComparison.OrdinalIgnoreCase));

    public JsonObject Single(string type)
    {
        var matches = OfType(type).ToList();
        Assert.True(matches.Count == 1, $"Expected exactly one {type}, found {matches.Count}.");
        return matches[0];
    }

    /// <summary>The <c>Microsoft.Resources/deployments</c> resource of a Bicep module, by module name.</summary>
    public JsonObject Module(string name) =>
        OfType("Microsoft.Resources/deployments").Single(r => (string?)r["name"] == name);

    /// <summary>The nested template of a Bicep module (its parameters, variables and resources).</summary>
    public JsonObject ModuleTemplate(string name) => Module(name)["properties"]!["template"]!.AsObject();

    /// <summary>The value main.bicep passes to a module parameter: its <c>value</c>, or the whole expression when the
    /// compiler wrote the parameter as one (<c>[if(c, createObject('value', a), createObject('value', b))]</c>).</summary>
    public JsonNode? ModuleArgument(string module, string parameter) =>
        Module(module)["properties"]!["parameters"]![parameter] switch
        {
            JsonObject argument => argument["value"],
            var expression => expression,
        };

    /// <summary>A variable of main.bicep.</summary>
    public JsonNode? Variable(string name) => Root["variables"]?[name];

    /// <summary>A <c>[for ...]</c> variable of a module, compiled into the <c>copy</c> list of its variables.</summary>
    public JsonObject ModuleCopyVariable(string module, string name) =>
        ModuleTemplate(module)["variables"]!["copy"]!.AsArray().OfType<JsonObject>().Single(c => (string?)c["name"] == name);

    private static IEnumerable<JsonObject> Walk(JsonObject template)
    {
        var resources = template["resources"] switch
        {
            JsonArray array => array.OfType<JsonObject>(),
            JsonObject symbolic => symbolic.Select(p => p.Value).OfType<JsonObject>(), // languageVersion 2.0
            _ => [],
        };

        foreach (var resource in resources)
        {
            if (resource["existing"] is JsonValue existing && existing.GetValue<bool>())
            {
                continue;
            }

            yield return resource;
            if (resource["properties"]?["template"] is JsonObject nested)
            {
                foreach (var inner in Walk(nested))
                {
                    yield return inner;
                }
            }
        }
    }
}
