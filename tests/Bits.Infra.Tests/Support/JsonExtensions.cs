using System.Text.Json.Nodes;

namespace Bits.Infra.Tests.Support;

internal static class JsonExtensions
{
    /// <summary>Follows a dotted property path ("properties.siteConfig.ftpsState"); null where a step is missing.</summary>
    public static JsonNode? At(this JsonNode? node, string path)
    {
        foreach (var step in path.Split('.'))
        {
            node = node is JsonObject obj ? obj[step] : null;
        }

        return node;
    }

    public static string? StringAt(this JsonNode? node, string path) =>
        node.At(path) is JsonValue value && value.TryGetValue<string>(out var text) ? text : null;

    public static bool? BoolAt(this JsonNode? node, string path) =>
        node.At(path) is JsonValue value && value.TryGetValue<bool>(out var flag) ? flag : null;
}
