using Bits.Testing;

namespace Bits.Infra.Tests.Support;

/// <summary>Paths inside the repository (<see cref="RepositoryRoot"/>: found by walking up from the test binaries to BitsFunctions.sln).</summary>
internal static class RepoPaths
{
    public static string Root => RepositoryRoot.Find();

    public static string Infra => Path.Combine(Root, "infra");

    public static string MainBicep => Path.Combine(Infra, "main.bicep");

    public static string MainParameters => Path.Combine(Infra, "main.parameters.json");

    public static string Workbook => Path.Combine(Infra, "workbook", "bits-uploads.workbook.json");

    public static string Src => Path.Combine(Root, "src");

    public static string Readme => Path.Combine(Root, "README.md");

    public static string Architecture => Path.Combine(Root, "docs", "architecture.md");

    public static string SmokeScript => Path.Combine(Infra, "smoke.sh");

    public static string AzureYaml => Path.Combine(Root, "azure.yaml");
}
