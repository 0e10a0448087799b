namespace Bits.Infra.Tests.Support;

/// <summary>Paths inside the repository, found by walking up from the test binaries to BitsFunctions.sln.</summary>
internal static class RepoPaths
{
    private static readonly Lazy<string> RootPath = new(FindRoot);

    public static string Root => RootPath.Value;

    public static string Infra => Path.Combine(Root, "infra");

    public static string MainBicep => Path.Combine(Infra, "main.bicep");

    public static string MainParameters => Path.Combine(Infra, "main.parameters.json");

    public static string Workbook => Path.Combine(Infra, "workbook", "bits-uploads.workbook.json");

    public static string Src => Path.Combine(Root, "src");

    public static string Readme => Path.Combine(Root, "README.md");

    public static string Architecture => Path.Combine(Root, "docs", "architecture.md");

    public static string SmokeScript => Path.Combine(Infra, "smoke.sh");

    public static string AzureYaml => Path.Combine(Root, "azure.yaml");

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "BitsFunctions.sln")))
            {
                return dir.FullName;
            }
        }

        throw new InvalidOperationException($"No BitsFunctions.sln found in {AppContext.BaseDirectory} or any parent folder.");
    }
}
