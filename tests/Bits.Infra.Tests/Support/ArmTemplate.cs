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
