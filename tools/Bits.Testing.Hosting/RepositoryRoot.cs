namespace Bits.Testing;

/// <summary>The repository's root folder (the one holding BitsFunctions.sln), for tests and tools run from their build output.</summary>
public static class RepositoryRoot
{
    private static readonly Lazy<string> Root = new(Search);

    /// <summary>The folder holding BitsFunctions.sln, found by walking up from the running binaries.</summary>
    public static string Find() => Root.Value;

    private static string Search()
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
